// The relay client's settings, filled by the driver from the command line
// (SPEC "Relay client"; dataplane/common/program: relay_settings) and
// used by the relay agent (relay/agent.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "apps/relay/route.hpp"

namespace bm {

struct RelaySettings {
    std::string queue_dir;
    std::string hostname;
    std::vector<std::string> local_domains;  // lower-case; a local sender gets the bounce
    std::optional<Relayhost> relayhost;
    std::int64_t retry_delay = 300;
    std::uint32_t max_attempts = 5;
    std::int64_t max_retry_delay = 4000;        // cap of the doubling (Postfix maximal_backoff_time)
    std::int64_t max_lifetime = 5 * 24 * 3600;  // then bounce (Postfix maximal_queue_lifetime)
    std::int64_t delay_warning = 4 * 3600;      // 0: none (Postfix delay_warning_time)
    bool control_socket = true;                 // QUEUE/.control for baremail-queue
    std::size_t max_deliveries = 64;         // concurrent (message, domain) deliveries
    std::int64_t rescan_interval = 60;       // seconds between queue scans
    std::string instance_tag = "0";          // unique bounce ids across restarts

    // SPEC --dns: lookups are needed unless the relayhost is an address.
    bool needs_dns() const { return !relayhost || !relayhost->ip; }
};

}  // namespace bm
