#include "dataplane/kernel/dns_resolver.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace bm::kernel {

namespace {

constexpr auto query_timeout = std::chrono::seconds(3);
constexpr int max_sends = 3;           // then the lookup fails (temporary)
constexpr std::size_t max_pending = 4096;
constexpr std::size_t max_answer = 4096;  // we ask over UDP without EDNS: 512 is the norm

using Clock = DnsResolver::Clock;

std::uint32_t random_seed() {
    std::uint32_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = static_cast<std::uint32_t>(Clock::now().time_since_epoch().count());
    return seed;
}

}  // namespace

DnsResolver::DnsResolver(const std::string& server, Answer answer)
    : answer_(std::move(answer)), random_(random_seed()) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("DNS socket: ") + std::strerror(errno));
    server_.sin_family = AF_INET;
    server_.sin_port = htons(53);  // RFC 1035 §4.2.1
    if (inet_pton(AF_INET, server.c_str(), &server_.sin_addr) != 1) {
        ::close(fd_);
        throw std::runtime_error("DNS server '" + server + "' is not an IPv4 address");
    }
    // No connect(): a server that is unreachable now (no route yet) must not
    // stop the mail server from starting; each send may fail and be retried.
}

DnsResolver::~DnsResolver() {
    if (fd_ >= 0) ::close(fd_);
}

std::string DnsResolver::system_nameserver(const std::string& resolv_conf) {
    std::ifstream in(resolv_conf);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string key, value;
        words >> key >> value;
        in_addr ignored{};
        if (key == "nameserver" && inet_pton(AF_INET, value.c_str(), &ignored) == 1) return value;
    }
    return {};
}

std::uint16_t DnsResolver::fresh_id() {
    // RFC 5452 §9.2: unpredictable ids (a fixed source port is a known gap).
    for (int i = 0; i < 64; ++i) {
        auto id = static_cast<std::uint16_t>(random_());
        if (!pending_.count(id)) return id;
    }
    return 0;
}

void DnsResolver::query(std::uint64_t owner, const std::string& name, apps::dns::RecordType type) {
    std::uint16_t id = fresh_id();
    auto packet = apps::dns::build_query(id, name, type);
    if (!packet) {
        refused_.push_back({owner, "'" + name + "' is not a domain name"});
        return;
    }
    if (pending_.size() >= max_pending || pending_.count(id)) {
        refused_.push_back({owner, "too many DNS queries in flight"});
        return;
    }
    Pending& p = pending_[id];
    p.owner = owner;
    p.name = name;
    p.type = type;
    p.packet = std::move(*packet);
    transmit(p);
}

void DnsResolver::transmit(Pending& p) {
    ++p.sends;
    p.deadline = Clock::now() + query_timeout;
    ssize_t n = ::sendto(fd_, p.packet.data(), p.packet.size(), MSG_NOSIGNAL,
                         reinterpret_cast<const sockaddr*>(&server_), sizeof server_);
    if (n < 0) p.deadline = Clock::now();  // try again (or give up) at the next tick
}

void DnsResolver::on_readable() {
    std::vector<char> buf(max_answer);
    for (int i = 0; i < 256; ++i) {
        sockaddr_in from{};
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) return;  // EAGAIN, or ICMP unreachable reported: the timeout handles it
        // RFC 5452 §9.1: only the server we asked may answer.
        if (from.sin_addr.s_addr != server_.sin_addr.s_addr || from.sin_port != server_.sin_port) continue;
        std::string_view packet(buf.data(), std::size_t(n));
        if (packet.size() < 2) continue;
        auto id = static_cast<std::uint16_t>((std::uint8_t(packet[0]) << 8) | std::uint8_t(packet[1]));
        auto it = pending_.find(id);
        if (it == pending_.end()) continue;
        apps::dns::Response r = apps::dns::parse_response(packet, id, it->second.name, it->second.type);
        if (r.status == apps::dns::Status::mismatch) continue;  // a forged or stale answer
        Pending done = std::move(it->second);
        pending_.erase(it);
        answer_(done.owner, r);
    }
}

void DnsResolver::fail(std::uint16_t id, const std::string& reason) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending done = std::move(it->second);
    pending_.erase(it);
    apps::dns::Response r;
    r.status = apps::dns::Status::server_failure;
    r.reason = reason;
    answer_(done.owner, r);
}

void DnsResolver::tick() {
    std::vector<std::pair<std::uint64_t, std::string>> refused;
    refused.swap(refused_);
    for (auto& [owner, reason] : refused) {
        apps::dns::Response r;
        r.status = apps::dns::Status::server_failure;
        r.reason = reason;
        answer_(owner, r);
    }
    if (pending_.empty()) return;
    Clock::time_point now = Clock::now();
    std::vector<std::uint16_t> expired;
    for (auto& [id, p] : pending_)
        if (p.deadline <= now) expired.push_back(id);
    for (std::uint16_t id : expired) {
        auto it = pending_.find(id);
        if (it == pending_.end()) continue;
        Pending& p = it->second;
        if (p.sends >= max_sends) {
            fail(id, "no answer from the DNS server");
        } else {
            transmit(p);
        }
    }
}

void DnsResolver::cancel_all() {
    pending_.clear();
    refused_.clear();
}

}  // namespace bm::kernel
