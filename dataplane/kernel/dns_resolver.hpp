// The relay client's DNS lookups over one UDP socket (kernel build), with
// the message codec of apps/dns. Queries go to one resolver (--dns, else
// the first nameserver of /etc/resolv.conf), each with a random id,
// retried on timeout a bounded number of times (RFC 1035 §4.2.1 / RFC 1123
// §6.1.3.3: retransmit, then give up). Answers are handed out from poll()
// and tick(), never from inside query().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <netinet/in.h>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "apps/dns.hpp"

namespace bm::kernel {

class DnsResolver {
public:
    using Answer = std::function<void(std::uint64_t owner, const apps::dns::Response& response)>;
    using Clock = std::chrono::steady_clock;

    // `server` is a dotted quad; throws std::runtime_error if the socket
    // cannot be made.
    DnsResolver(const std::string& server, Answer answer);
    ~DnsResolver();
    DnsResolver(const DnsResolver&) = delete;
    DnsResolver& operator=(const DnsResolver&) = delete;

    int fd() const { return fd_; }
    void query(std::uint64_t owner, const std::string& name, apps::dns::RecordType type);
    void on_readable();  // read every answer waiting on the socket
    void tick();         // retransmit or fail queries past their deadline
    void cancel_all();   // shutdown: forget every query, answer none

    // The first "nameserver a.b.c.d" of resolv.conf, or "" if none.
    static std::string system_nameserver(const std::string& resolv_conf = "/etc/resolv.conf");

private:
    struct Pending {
        std::uint64_t owner = 0;
        std::string name;
        apps::dns::RecordType type = apps::dns::RecordType::a;
        std::string packet;
        int sends = 0;
        Clock::time_point deadline;
    };
    void transmit(Pending& pending);
    void fail(std::uint16_t id, const std::string& reason);
    std::uint16_t fresh_id();

    int fd_ = -1;
    sockaddr_in server_{};
    Answer answer_;
    std::map<std::uint16_t, Pending> pending_;
    std::vector<std::pair<std::uint64_t, std::string>> refused_;  // answered at the next tick
    std::mt19937 random_;
};

}  // namespace bm::kernel
