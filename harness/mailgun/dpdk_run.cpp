#include "harness/mailgun/dpdk_run.hpp"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#include "dataplane/dpdk/eal.hpp"
#include "dataplane/dpdk/eal_args.hpp"
#include "dataplane/dpdk/port.hpp"
#include "harness/mailgun/dpdk_transport.hpp"

namespace bm::mailgun {

namespace {

constexpr unsigned link_attempts = 20, link_retry_ms = 500;

bool link_up(std::uint16_t port) {
    rte_eth_link link{};
    return rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
}

// A memif client connects only once the server's application has started
// its port, and DPDK's memif client does not retry by itself: restart the
// port until the link comes up (bounded).
void wait_for_link(const dpdk::Port& port) {
    for (unsigned attempt = 0; attempt < link_attempts; ++attempt) {
        if (link_up(port.id())) return;
        rte_eth_dev_stop(port.id());
        rte_eth_dev_start(port.id());
        rte_delay_ms(link_retry_ms);
    }
    if (!link_up(port.id())) throw std::runtime_error("the port's link stayed down: " + port.describe());
}

}  // namespace

void run_on_dpdk(std::vector<std::string> eal, const Workload& workload, Tally& tally, Scenario& scenario) {
    dpdk::Eal environment(std::move(eal));
    dpdk::PortSettings settings;
    dpdk::Port port(settings);
    wait_for_link(port);
    if (!workload.quiet) std::fprintf(stderr, "mailgun: port %s\n", port.describe().c_str());
    DpdkTransport transport(workload, tally, port);
    transport.run(scenario);
}

}  // namespace bm::mailgun
