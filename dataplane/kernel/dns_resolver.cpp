#include "dataplane/kernel/dns_resolver.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "apps/ipv4_text.hpp"

namespace bm::kernel {
namespace {

constexpr std::size_t max_answer = 4096;  // we ask over UDP without EDNS: 512 is the norm
constexpr int reads_per_socket = 16;      // bounded work per wake-up; epoll reports the rest

std::uint64_t now_us() {
    auto since = std::chrono::steady_clock::now().time_since_epoch();
    return std::uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(since).count());
}

std::uint32_t server_address(const std::string& server) {
    auto ip = parse_ipv4(server);
    if (!ip) throw std::runtime_error("DNS server '" + server + "' is not an IPv4 address");
    return *ip;
}

int epoll_set() {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) throw std::runtime_error(std::string("DNS epoll set: ") + std::strerror(errno));
    return fd;
}

// No connect(): a server that is unreachable now (no route yet) must not
// stop the query; each send may fail and be retried.
bool bind_port(int fd, std::uint16_t port) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(port);
    return ::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0;
}

std::uint16_t bound_port(int fd) {
    sockaddr_in local{};
    socklen_t length = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return 0;
    return ntohs(local.sin_port);
}

}  // namespace

DnsResolver::DnsResolver(const std::string& server, Answer answer)
    : DnsResolver(server_address(server), std::move(answer)) {}

DnsResolver::DnsResolver(std::uint32_t server, Answer answer)
    : epoll_fd_(epoll_set()), client_(server, *this, std::move(answer)) {}

DnsResolver::~DnsResolver() {
    for (auto& [port, fd] : sockets_) ::close(fd);
    ::close(epoll_fd_);
}

void DnsResolver::query(std::uint64_t owner, const std::string& name, apps::dns::RecordType type) {
    client_.query(owner, name, type, now_us());
}

void DnsResolver::tick() { client_.tick(now_us()); }

void DnsResolver::cancel_all() { client_.cancel_all(); }

// The client's random port if it is free on this host, else one the
// kernel picks (also at random, from its ephemeral range).
std::uint16_t DnsResolver::open_port(std::uint16_t suggestion) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    std::uint16_t port = 0;
    if (bind_port(fd, suggestion) || bind_port(fd, 0)) port = bound_port(fd);
    epoll_event event{EPOLLIN, {.u64 = port}};
    if (port == 0 || sockets_.count(port) || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
        ::close(fd);
        return 0;
    }
    sockets_[port] = fd;
    return port;
}

void DnsResolver::close_port(std::uint16_t port) {
    auto it = sockets_.find(port);
    if (it == sockets_.end()) return;
    ::close(it->second);  // also leaves the epoll set
    sockets_.erase(it);
}

bool DnsResolver::send(std::uint32_t server, std::uint16_t port, std::string_view packet) {
    auto it = sockets_.find(port);
    if (it == sockets_.end()) return false;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(DnsClient::server_port);
    to.sin_addr.s_addr = htonl(server);
    return ::sendto(it->second, packet.data(), packet.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&to),
                    sizeof to) == ssize_t(packet.size());
}

void DnsResolver::on_readable() {
    std::array<epoll_event, 64> events;
    int n = epoll_wait(epoll_fd_, events.data(), int(events.size()), 0);
    for (int i = 0; i < n; ++i) read_socket(std::uint16_t(events[std::size_t(i)].data.u64));
}

void DnsResolver::read_socket(std::uint16_t port) {
    std::array<char, max_answer> buffer;
    for (int i = 0; i < reads_per_socket; ++i) {
        auto it = sockets_.find(port);
        if (it == sockets_.end()) return;  // answered (and closed) by the previous datagram
        sockaddr_in from{};
        socklen_t from_length = sizeof from;
        ssize_t n = recvfrom(it->second, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from),
                             &from_length);
        if (n < 0) return;  // EAGAIN, or an ICMP error reported: the timeout handles it
        client_.on_datagram(ntohl(from.sin_addr.s_addr), ntohs(from.sin_port), port,
                            std::string_view(buffer.data(), std::size_t(n)));
    }
}

}  // namespace bm::kernel
