// "/baremail/stats" on the DPDK telemetry socket (usertools/dpdk-telemetry.py
// -f baremail): every counter of counters.hpp as one dictionary.
#pragma once

#include "dataplane/dpdk/counters.hpp"

namespace bm::dpdk {

// `counters` must live until rte_eal_cleanup (the telemetry thread reads it).
void register_telemetry(const Counters& counters);

}  // namespace bm::dpdk
