// The relay client's DNS lookups on the kernel build: the shared DnsClient
// (apps/dns/client) whose datagrams travel over Linux UDP sockets, one per
// query in flight, so each query has a source port of its own (RFC 5452
// §9.2). The sockets sit in an epoll set of their own whose descriptor is
// fd(): the server's loop watches that one descriptor whatever the number
// of queries.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "apps/dns/client.hpp"
#include "apps/dns/message.hpp"
#include "dataplane/common/resolv_conf.hpp"

namespace bm::kernel {

class DnsResolver final : private DnsTransport {
public:
    using Answer = DnsClient::Answer;

    // `server` is a dotted quad; throws std::runtime_error if it is not, or
    // if the epoll set cannot be made.
    DnsResolver(const std::string& server, Answer answer);
    ~DnsResolver();
    DnsResolver(const DnsResolver&) = delete;
    DnsResolver& operator=(const DnsResolver&) = delete;

    int fd() const { return epoll_fd_; }
    void query(std::uint64_t owner, const std::string& name, apps::dns::RecordType type);
    void on_readable();  // read every answer waiting on the sockets
    void tick();         // retransmit or fail queries past their deadline
    void cancel_all();   // shutdown: forget every query, answer none

    // The first "nameserver a.b.c.d" of resolv.conf, or "" if none.
    static std::string system_nameserver(const std::string& resolv_conf = "/etc/resolv.conf") {
        return bm::system_nameserver(resolv_conf);
    }

private:
    DnsResolver(std::uint32_t server, Answer answer);  // the address checked first: nothing to undo

    // DnsTransport
    std::uint16_t open_port(std::uint16_t suggestion) override;
    void close_port(std::uint16_t port) override;
    bool send(std::uint32_t server, std::uint16_t port, std::string_view packet) override;

    void read_socket(std::uint16_t port);

    int epoll_fd_ = -1;
    std::map<std::uint16_t, int> sockets_;  // by local port
    DnsClient client_;
};

}  // namespace bm::kernel
