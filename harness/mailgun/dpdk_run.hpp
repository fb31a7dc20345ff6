// --transport dpdk: the EAL, the port and the loop for one run. Compiled
// only when libdpdk is found; otherwise run_on_dpdk says so.
#pragma once

#include <string>
#include <vector>

#include "harness/mailgun/scenario.hpp"
#include "harness/mailgun/workload.hpp"

namespace bm::mailgun {

// `eal` is argv[0] and the EAL options. Throws std::runtime_error when the
// EAL or the port cannot be set up.
void run_on_dpdk(std::vector<std::string> eal, const Workload& workload, Tally& tally, Scenario& scenario);

}  // namespace bm::mailgun
