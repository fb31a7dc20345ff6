#include "dataplane/kernel/relay_link.hpp"

#include "dataplane/common/program.hpp"

namespace bm::kernel {

RelayLink::RelayLink(const Options& options, const std::string& instance_tag, std::uint32_t max_deliveries,
                     store::MailStore& store, store::IoWorker& worker, RelayConnector& connector, EventLog& log)
    : connector_(connector), log_(log) {
    RelaySettings settings = relay_settings(options, instance_tag);
    settings.max_deliveries = max_deliveries;
    if (settings.needs_dns()) start_dns(options);
    agent_ = std::make_unique<RelayAgent>(std::move(settings), store, worker, *this, log_);
    agent_->start(std::time(nullptr));
}

RelayLink::~RelayLink() = default;

// SPEC --dns; default: the first nameserver of /etc/resolv.conf, else the
// local resolver (said once in the log).
void RelayLink::start_dns(const Options& options) {
    std::string server = options.dns.empty() ? DnsResolver::system_nameserver() : options.dns;
    if (server.empty()) {
        log_.event("relay", "-", "no-dns-server", "none in /etc/resolv.conf; using 127.0.0.1");
        server = "127.0.0.1";
    }
    dns_ = std::make_unique<DnsResolver>(server, [this](std::uint64_t owner, const apps::dns::Response& response) {
        if (agent_) agent_->on_resolved(owner, response);
    });
}

void RelayLink::on_dns_readable() {
    if (dns_) dns_->on_readable();
}

void RelayLink::poll(std::time_t now) {
    if (dns_) dns_->tick();
    agent_->tick(now);
}

void RelayLink::stop() {
    agent_->stop();
    if (dns_) dns_->cancel_all();  // the agent drops lookups in progress
}

void RelayLink::on_session_end(std::uint64_t delivery, const std::string& peer,
                               const std::vector<apps::RecipientResult>& results) {
    agent_->on_session_end(delivery, peer, results);
}

void RelayLink::resolve(std::uint64_t delivery, const std::string& name, apps::dns::RecordType type) {
    if (dns_) dns_->query(delivery, name, type);
}

bool RelayLink::connect(std::uint64_t delivery, std::uint32_t ip, std::uint16_t port,
                        apps::OutboundMessage message) {
    return connector_.connect_relay(delivery, ip, port, std::move(message));
}

}  // namespace bm::kernel
