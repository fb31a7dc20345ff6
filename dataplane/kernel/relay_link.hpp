// The relay client on the kernel build: the transport-independent
// RelayAgent (relay/) whose connections are the server loop's non-blocking
// sockets hosting apps::SmtpClient (RelayConnector), and whose MX/A
// lookups go to the --dns server over UDP sockets (DnsResolver) — as
// dataplane/dpdk/relay_link does over the engine and the stack's UDP.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "apps/smtp_client.hpp"
#include "dataplane/common/event_log.hpp"
#include "dataplane/common/options.hpp"
#include "dataplane/kernel/dns_resolver.hpp"
#include "relay/agent.hpp"

namespace bm::kernel {

// The loop's side: an outbound SMTP connection to ip:port hosting the
// relay client for `message`; RelayLink::on_session_end when it is over.
// False if it cannot even be tried (no free connection, no socket).
class RelayConnector {
public:
    virtual bool connect_relay(std::uint64_t delivery, std::uint32_t ip, std::uint16_t port,
                               apps::OutboundMessage message) = 0;

protected:
    ~RelayConnector() = default;
};

class RelayLink final : public RelayNetwork {
public:
    // `max_deliveries`: the relay's share of the loop's connections.
    RelayLink(const Options& options, const std::string& instance_tag, std::uint32_t max_deliveries,
              store::MailStore& store, store::IoWorker& worker, RelayConnector& connector, EventLog& log);
    ~RelayLink();

    RelayAgent& agent() { return *agent_; }
    // The descriptor to watch for DNS answers; -1 when no lookup is ever
    // needed (an address relayhost).
    int dns_fd() const { return dns_ ? dns_->fd() : -1; }
    void on_dns_readable();
    // Each loop turn: retransmit or fail DNS queries that are due, tick
    // the schedule.
    void poll(std::time_t now);
    void stop();  // SIGTERM: the agent starts nothing new; lookups are dropped
    // A relay connection is over (from the loop, never inside a call of ours).
    void on_session_end(std::uint64_t delivery, const std::string& peer,
                        const std::vector<apps::RecipientResult>& results);

    // RelayNetwork
    void resolve(std::uint64_t delivery, const std::string& name, apps::dns::RecordType type) override;
    bool connect(std::uint64_t delivery, std::uint32_t ip, std::uint16_t port,
                 apps::OutboundMessage message) override;

private:
    void start_dns(const Options& options);

    RelayConnector& connector_;
    EventLog& log_;
    std::unique_ptr<DnsResolver> dns_;
    std::unique_ptr<RelayAgent> agent_;  // after dns_: gone first
};

}  // namespace bm::kernel
