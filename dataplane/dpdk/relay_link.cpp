#include "dataplane/dpdk/relay_link.hpp"

#include "dataplane/common/cidr.hpp"
#include "dataplane/common/program.hpp"
#include "dataplane/common/resolv_conf.hpp"

namespace bm::dpdk {

// One connection attempt: the engine's handler while the SYN is out, then
// the SmtpClient's report. Kept until the session has reported and a while
// after, since the session (owned by the TCB) holds a reference to it.
class RelayLink::Attempt final : public tcp::ActiveOpenHandler, public apps::RelayReport {
public:
    Attempt(RelayLink& link, std::uint64_t delivery, std::string peer, apps::OutboundMessage message)
        : link_(link), delivery_(delivery), peer_(std::move(peer)), message_(std::move(message)) {}

    std::unique_ptr<apps::Session> on_established(const tcp::SessionHost& host) override {
        return std::make_unique<apps::SmtpClient>(link_.client_config_, std::move(message_), host.transport,
                                                  host.store, host.observer, *this);
    }

    // RFC 5321 §4.5.4.1: a connection that cannot be made is a temporary
    // failure for every recipient.
    void on_failed(std::string_view reason) override {
        std::vector<apps::RecipientResult> results;
        for (std::string& rcpt : message_.recipients)
            results.push_back({std::move(rcpt), apps::RelayOutcome::temporary, std::string(reason)});
        message_ = {};
        link_.finish(*this, std::move(results));
    }

    void on_relay_result(const std::vector<apps::RecipientResult>& results) override {
        link_.finish(*this, results);
    }

    std::uint64_t delivery() const { return delivery_; }
    const std::string& peer() const { return peer_; }
    bool done = false;
    std::uint64_t done_at_us = 0;

private:
    RelayLink& link_;
    std::uint64_t delivery_;
    std::string peer_;
    apps::OutboundMessage message_;
};

namespace {

// A finished session's TCB is gone well before this (QUIT, FIN, TIME_WAIT
// is not a session); only then is its report target freed.
constexpr std::uint64_t attempt_linger_us = 600'000'000;

// The --dns server as the stack sees it (SPEC --dns; default: the first
// nameserver of /etc/resolv.conf). The stack has no loopback and routes
// off-link only through --gateway, so some servers can never answer: 0,
// and why.
struct DnsServer {
    std::uint32_t ip = 0;
    std::string problem;
};

DnsServer dns_server(const Options& options) {
    std::string text = options.dns.empty() ? system_nameserver() : options.dns;
    std::string named = (options.dns.empty() ? "nameserver " : "--dns ") + text;
    if (text.empty()) return {0, "no --dns and no nameserver in /etc/resolv.conf"};
    std::uint32_t ip = parse_ipv4(text).value_or(0);
    std::uint32_t own = parse_ipv4(options.ip).value_or(0);
    auto subnet = Cidr::parse(options.ip + "/" + std::to_string(options.prefix_len));
    if (ip == 0 || (ip >> 24) == 127 || ip == own)
        return {0, named + " cannot be reached from the stack's own address " + options.ip + ": give --dns A.B.C.D"};
    if (subnet && !subnet->contains(ip) && options.gateway.empty())
        return {0, named + " is not on " + options.ip + "/" + std::to_string(options.prefix_len) +
                       " and there is no --gateway"};
    return {ip, {}};
}

}  // namespace

RelayLink::RelayLink(const Options& options, const std::string& instance_tag, store::MailStore& store,
                     store::IoWorker& worker, tcp::Engine& engine, UdpSender& udp, EventLog& log)
    : engine_(engine), log_(log) {
    client_config_.hostname = options.hostname;
    client_config_.reply_timeout = std::chrono::seconds(options.relay_timeout);
    RelaySettings settings = relay_settings(options, instance_tag);
    if (settings.needs_dns()) start_dns(options, udp);
    agent_ = std::make_unique<RelayAgent>(std::move(settings), store, worker, *this, log_);
    last_tick_ = std::time(nullptr);
    agent_->start(last_tick_);
}

// An unusable server is said once here; each lookup then fails as a
// temporary error, so the mail stays queued and is retried (and bounced
// after --max-attempts) exactly as when a reachable server does not answer.
void RelayLink::start_dns(const Options& options, UdpSender& udp) {
    DnsServer server = dns_server(options);
    if (server.ip == 0) log_.event("relay", "-", "no-dns-server", server.problem + "; MX/A lookups will fail");
    auto answer = [this](std::uint64_t delivery, const apps::dns::Response& response) {
        if (agent_) agent_->on_resolved(delivery, response);
    };
    dns_ = std::make_unique<DnsLink>(server.ip, udp, std::move(answer), "no usable DNS server: " + server.problem);
}

RelayLink::~RelayLink() = default;

void RelayLink::resolve(std::uint64_t delivery, const std::string& name, apps::dns::RecordType type) {
    if (dns_) dns_->client().query(delivery, name, type, now_us_);
}

bool RelayLink::connect(std::uint64_t delivery, std::uint32_t ip, std::uint16_t port,
                        apps::OutboundMessage message) {
    std::string peer = format_ipv4(ip) + ":" + std::to_string(port);
    attempts_.push_back(std::make_unique<Attempt>(*this, delivery, peer, std::move(message)));
    tcp::ConnectResult opened = engine_.connect({ip, port, 0}, *attempts_.back(), now_us_);
    if (opened) return true;
    log_.event("relay", peer, "connect-failed", opened.error);
    attempts_.pop_back();
    return false;
}

void RelayLink::finish(Attempt& attempt, std::vector<apps::RecipientResult> results) {
    if (attempt.done) return;
    attempt.done = true;
    attempt.done_at_us = now_us_;
    finished_.push_back({attempt.delivery(), attempt.peer(), std::move(results)});
}

void RelayLink::poll(std::uint64_t now_us) {
    now_us_ = now_us;
    if (dns_) dns_->client().tick(now_us);
    std::vector<Finished> finished = std::move(finished_);
    finished_.clear();
    for (Finished& f : finished) agent_->on_session_end(f.delivery, f.peer, f.results);
    std::time_t now = std::time(nullptr);  // vDSO: no system call
    if (now == last_tick_ && finished.empty() && !agent_->wants_tick()) return;
    last_tick_ = now;
    agent_->tick(now);
    attempts_.remove_if([&](const std::unique_ptr<Attempt>& a) {
        return a->done && now_us_ - a->done_at_us > attempt_linger_us;
    });
}

void RelayLink::stop() {
    agent_->stop();
    if (dns_) dns_->client().cancel_all();  // the agent drops lookups in progress
}

}  // namespace bm::dpdk
