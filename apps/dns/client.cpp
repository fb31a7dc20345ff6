#include "apps/dns/client.hpp"

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "apps/ipv4_text.hpp"

namespace bm {
namespace {

constexpr std::uint64_t no_deadline = std::numeric_limits<std::uint64_t>::max();

// RFC 5452 §9.2 / §10: id and source port must be unpredictable to an
// off-path attacker; arc4random is a CSPRNG that needs no system call per
// number (the polling core of the DPDK build asks from its loop).
std::uint16_t random_id() { return static_cast<std::uint16_t>(arc4random()); }

// RFC 6335 §6: the dynamic port range, 49152-65535.
std::uint16_t random_port() { return static_cast<std::uint16_t>(49152 + arc4random_uniform(16384)); }

}  // namespace

DnsClient::DnsClient(std::uint32_t server, DnsTransport& transport, Answer answer, DnsClientSettings settings,
                     std::string why_unusable)
    : server_(server),
      transport_(transport),
      answer_(std::move(answer)),
      settings_(settings),
      why_unusable_(std::move(why_unusable)),
      next_deadline_us_(no_deadline) {}

void DnsClient::query(std::uint64_t owner, const std::string& name, apps::dns::RecordType type,
                      std::uint64_t now_us) {
    if (server_ == 0) return refuse(owner, why_unusable_);
    Pending pending;
    pending.owner = owner;
    pending.id = random_id();
    pending.name = name;
    pending.type = type;
    auto packet = apps::dns::build_query(pending.id, name, type);
    if (!packet) return refuse(owner, "'" + name + "' is not a domain name");
    pending.packet = std::move(*packet);
    if (pending_.size() >= settings_.max_pending) return refuse(owner, "too many DNS queries in flight");
    std::uint16_t port = fresh_port();
    if (port == 0) return refuse(owner, "no UDP port free for a DNS query");
    Pending& p = pending_[port] = std::move(pending);
    transmit(port, p, now_us);
}

// A port of its own per query (RFC 5452 §9.2): a forger must guess the
// port as well as the id.
std::uint16_t DnsClient::fresh_port() {
    for (int tries = 0; tries < 64; ++tries) {
        std::uint16_t suggestion = random_port();
        if (pending_.count(suggestion)) continue;
        std::uint16_t port = transport_.open_port(suggestion);
        return pending_.count(port) ? 0 : port;
    }
    return 0;
}

void DnsClient::transmit(std::uint16_t port, Pending& p, std::uint64_t now_us) {
    ++p.sends;
    p.send_failed = !transport_.send(server_, port, p.packet);
    // A datagram that could not leave (no buffer, no route) is tried again
    // sooner than a lost one; both count against max_sends.
    p.deadline_us = now_us + (p.send_failed ? settings_.timeout_us / 4 : settings_.timeout_us);
    next_deadline_us_ = std::min(next_deadline_us_, p.deadline_us);
}

void DnsClient::on_datagram(std::uint32_t source, std::uint16_t source_port, std::uint16_t port,
                            std::string_view payload) {
    // RFC 5452 §9.1: only the server we asked, from the port we asked at.
    if (source != server_ || source_port != server_port) return;
    auto it = pending_.find(port);
    if (it == pending_.end()) return;
    const Pending& p = it->second;
    apps::dns::Response response = apps::dns::parse_response(payload, p.id, p.name, p.type);
    // Another id or question: forged, or an answer to an earlier query of
    // this port. Keep waiting for ours.
    if (response.status == apps::dns::Status::mismatch) return;
    finish(port, response);
}

void DnsClient::finish(std::uint16_t port, const apps::dns::Response& response) {
    auto it = pending_.find(port);
    if (it == pending_.end()) return;
    std::uint64_t owner = it->second.owner;
    pending_.erase(it);
    transport_.close_port(port);
    answer_(owner, response);  // last: it may start a new query
}

void DnsClient::refuse(std::uint64_t owner, std::string reason) { refused_.push_back({owner, std::move(reason)}); }

void DnsClient::tick(std::uint64_t now_us) {
    if (!refused_.empty()) {
        std::vector<std::pair<std::uint64_t, std::string>> refused;
        refused.swap(refused_);
        for (auto& [owner, reason] : refused) {
            apps::dns::Response response;
            response.status = apps::dns::Status::server_failure;
            response.reason = std::move(reason);
            answer_(owner, response);
        }
    }
    if (now_us >= next_deadline_us_) expire(now_us);
}

// RFC 1123 §6.1.3.3: retransmit with the same id and port (a late answer
// to the first copy is still ours), then give up.
void DnsClient::expire(std::uint64_t now_us) {
    std::vector<std::uint16_t> due;
    for (const auto& [port, p] : pending_)
        if (p.deadline_us <= now_us) due.push_back(port);
    for (std::uint16_t port : due) {
        auto it = pending_.find(port);
        if (it == pending_.end()) continue;
        Pending& p = it->second;
        if (p.sends < settings_.max_sends) {
            transmit(port, p, now_us);
            continue;
        }
        apps::dns::Response response;
        response.status = apps::dns::Status::server_failure;
        response.reason = (p.send_failed ? "cannot send to the DNS server " : "no answer from the DNS server ") +
                          format_ipv4(server_);
        finish(port, response);
    }
    next_deadline_us_ = no_deadline;
    for (const auto& [port, p] : pending_) next_deadline_us_ = std::min(next_deadline_us_, p.deadline_us);
}

void DnsClient::cancel_all() {
    for (const auto& [port, p] : pending_) transport_.close_port(port);
    pending_.clear();
    refused_.clear();
    next_deadline_us_ = no_deadline;
}

}  // namespace bm
