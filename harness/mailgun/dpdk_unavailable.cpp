// A build without libdpdk: --transport dpdk is refused with a clear reason.
#include <stdexcept>

#include "harness/mailgun/dpdk_run.hpp"

namespace bm::mailgun {

void run_on_dpdk(std::vector<std::string>, const Workload&, Tally&, Scenario&) {
    throw std::runtime_error("--transport dpdk: this mailgun was built without DPDK");
}

}  // namespace bm::mailgun
