// The relay client's DNS lookups, whatever carries the datagrams (a kernel
// UDP socket per query, or the DPDK stack's UDP): query ids and source
// ports, the table of queries in flight, retransmission and timeouts,
// matching answers to queries, and handing each answer to its owner. The
// message codec is apps/dns/message.
//
// Read first: RFC 1035 §4.2.1 (UDP to port 53) and RFC 1123 §6.1.3.3
// (retransmit a bounded number of times, then give up: a temporary
// failure); RFC 5452 §9 (accept an answer only from the server asked, to
// the port asked from, with the query's id and question; make id and port
// unpredictable).
//
// Time comes in as an argument (monotonic microseconds), so tests need no
// clock and no network. Answers are handed out from on_datagram() and
// tick(), never from inside query(); an answer callback may start a new
// query.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apps/dns/message.hpp"

namespace bm {

// How the client's datagrams travel.
class DnsTransport {
public:
    // A source port for one query, to be its own until close_port():
    // `suggestion` (random, in use by no other query) or one the transport
    // chose at random itself. 0 when none can be had now.
    virtual std::uint16_t open_port(std::uint16_t suggestion) = 0;
    virtual void close_port(std::uint16_t port) = 0;
    // One datagram to server:53 from `port`. False when it could not leave.
    virtual bool send(std::uint32_t server, std::uint16_t port, std::string_view packet) = 0;

protected:
    ~DnsTransport() = default;
};

struct DnsClientSettings {
    std::uint64_t timeout_us = 3'000'000;  // per transmission
    int max_sends = 3;                     // then the lookup fails (temporary)
    std::size_t max_pending = 4096;
};

class DnsClient {
public:
    using Answer = std::function<void(std::uint64_t owner, const apps::dns::Response& response)>;
    static constexpr std::uint16_t server_port = 53;  // RFC 1035 §4.2.1

    // `server` in host byte order; 0 means none is usable: every lookup
    // then fails with `why_unusable` as its reason.
    DnsClient(std::uint32_t server, DnsTransport& transport, Answer answer, DnsClientSettings settings = {},
              std::string why_unusable = "no DNS server");
    DnsClient(const DnsClient&) = delete;
    DnsClient& operator=(const DnsClient&) = delete;

    void query(std::uint64_t owner, const std::string& name, apps::dns::RecordType type, std::uint64_t now_us);
    // A datagram from source:source_port to our `port`.
    void on_datagram(std::uint32_t source, std::uint16_t source_port, std::uint16_t port, std::string_view payload);
    // Retransmits or fails queries past their deadline; answers refused ones.
    void tick(std::uint64_t now_us);
    // Shutdown: forget every query, answer none.
    void cancel_all();

    bool listens_on(std::uint16_t port) const { return pending_.count(port) != 0; }
    std::size_t in_flight() const { return pending_.size(); }
    std::uint32_t server() const { return server_; }

private:
    struct Pending {
        std::uint64_t owner = 0;
        std::uint16_t id = 0;
        std::string name;
        apps::dns::RecordType type = apps::dns::RecordType::a;
        std::string packet;
        int sends = 0;
        bool send_failed = false;
        std::uint64_t deadline_us = 0;
    };
    std::uint16_t fresh_port();
    void transmit(std::uint16_t port, Pending& pending, std::uint64_t now_us);
    void finish(std::uint16_t port, const apps::dns::Response& response);
    void refuse(std::uint64_t owner, std::string reason);
    void expire(std::uint64_t now_us);

    std::uint32_t server_;
    DnsTransport& transport_;
    Answer answer_;
    DnsClientSettings settings_;
    std::string why_unusable_;
    std::map<std::uint16_t, Pending> pending_;  // by our source port: one query each
    std::vector<std::pair<std::uint64_t, std::string>> refused_;  // answered at the next tick
    std::uint64_t next_deadline_us_ = 0;
};

}  // namespace bm
