// The relay client on the DPDK build: the transport-independent RelayAgent
// (relay/) whose connections are active opens of the engine
// (tcp::Engine::connect) hosting apps::SmtpClient, and whose MX/A lookups
// go to the --dns server over the stack's UDP (DnsLink), as on the kernel
// build.
#pragma once

#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "apps/smtp_client.hpp"
#include "dataplane/common/event_log.hpp"
#include "dataplane/common/options.hpp"
#include "dataplane/dpdk/dns_link.hpp"
#include "dataplane/dpdk/udp_ports.hpp"
#include "relay/agent.hpp"
#include "tcp/engine.hpp"

namespace bm::dpdk {

class RelayLink final : public RelayNetwork {
public:
    RelayLink(const Options& options, const std::string& instance_tag, store::MailStore& store,
              store::IoWorker& worker, tcp::Engine& engine, UdpSender& udp, EventLog& log);
    ~RelayLink();

    RelayAgent& agent() { return *agent_; }
    // The receiver of DNS answers; null when no lookup is ever needed (an
    // address relayhost).
    UdpReceiver* dns() { return dns_.get(); }
    // Each loop turn: retransmit or fail DNS queries that are due, hand
    // finished sessions to the agent (never from inside an engine
    // callback), and tick the schedule once a second.
    void poll(std::uint64_t now_us);
    void stop();  // SIGTERM: the agent starts nothing new; lookups are dropped

    // RelayNetwork
    void resolve(std::uint64_t delivery, const std::string& name, apps::dns::RecordType type) override;
    bool connect(std::uint64_t delivery, std::uint32_t ip, std::uint16_t port,
                 apps::OutboundMessage message) override;

private:
    class Attempt;
    struct Finished {
        std::uint64_t delivery;
        std::string peer;
        std::vector<apps::RecipientResult> results;
    };
    void finish(Attempt& attempt, std::vector<apps::RecipientResult> results);
    void start_dns(const Options& options, UdpSender& udp);

    tcp::Engine& engine_;
    EventLog& log_;
    apps::SmtpClientConfig client_config_;
    std::unique_ptr<DnsLink> dns_;
    std::unique_ptr<RelayAgent> agent_;
    std::list<std::unique_ptr<Attempt>> attempts_;  // alive while their session may report
    std::vector<Finished> finished_;
    std::uint64_t now_us_ = 0;
    std::time_t last_tick_ = 0;
};

}  // namespace bm::dpdk
