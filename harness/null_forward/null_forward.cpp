// null_forward: the "null-forward ceiling" of a pcap replay — every frame
// received on the first port is sent, untouched, on the second (or back on
// the first when there is one port), and nothing else is done.
//
//   null_forward [EAL options] [-- --idle-ms N]
//
// e.g. --no-huge -m 512 --no-pci -l 1 --file-prefix nf
//      --vdev net_pcap0,rx_pcap=IN.pcap --vdev net_pcap1,tx_pcap=OUT.pcap
//
// harness/replay runs its workload pcap through this and through baremail on
// the same PMD; the ratio of the two is how close the stack comes to what
// the port alone can move. The cycles are counted as baremail's poll loop
// counts them (dataplane/dpdk/cycle_meter.hpp): an iteration that received
// frames is busy, and its cycles until the next iteration starts are
// charged to busy_cycles.
//
// It stops after the first frame once no frame has come for --idle-ms
// (default 200: net_pcap's rx stops at the end of its file), or on SIGINT /
// SIGTERM, and prints "name value" lines on stdout.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <array>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "dataplane/dpdk/cycle_meter.hpp"

namespace {

constexpr std::uint16_t burst = 32;  // as baremail's poll loop
constexpr std::uint16_t ring_size = 1024;
constexpr unsigned pool_size = 8191;  // both rings, a burst in hand, the cache
constexpr unsigned pool_cache = 256;

volatile std::sig_atomic_t stop = 0;
void on_signal(int) { stop = 1; }

struct Totals {
    std::uint64_t frames = 0, bytes = 0, sent = 0, dropped = 0;
};

// One RX and one TX queue, no offloads: frames pass as they are.
bool setup_port(std::uint16_t port, rte_mempool* pool) {
    rte_eth_conf conf{};
    std::uint16_t rx_desc = ring_size, tx_desc = ring_size;
    int socket = rte_eth_dev_socket_id(port);
    return rte_eth_dev_configure(port, 1, 1, &conf) == 0 &&
           rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc) == 0 &&
           rte_eth_rx_queue_setup(port, 0, rx_desc, unsigned(socket), nullptr, pool) == 0 &&
           rte_eth_tx_queue_setup(port, 0, tx_desc, unsigned(socket), nullptr) == 0 && rte_eth_dev_start(port) == 0;
}

// Moves one burst; returns how many frames came in.
std::uint16_t forward(std::uint16_t from, std::uint16_t to, Totals& totals) {
    std::array<rte_mbuf*, burst> frames;
    std::uint16_t n = rte_eth_rx_burst(from, 0, frames.data(), burst);
    if (n == 0) return 0;
    for (std::uint16_t i = 0; i < n; ++i) totals.bytes += frames[i]->pkt_len;
    std::uint16_t sent = rte_eth_tx_burst(to, 0, frames.data(), n);
    for (std::uint16_t i = sent; i < n; ++i) rte_pktmbuf_free(frames[i]);
    totals.frames += n;
    totals.sent += sent;
    totals.dropped += n - sent;
    return n;
}

// Runs until the input has been idle for idle_ms after the first frame.
void run(std::uint16_t from, std::uint16_t to, std::uint64_t idle_ms, Totals& totals,
         bm::dpdk::PollCounters& counters) {
    const std::uint64_t hz = rte_get_tsc_hz();
    bm::dpdk::CycleMeter meter(counters, hz);
    bool worked = false;
    std::uint64_t last_frame = 0;
    while (!stop) {
        std::uint64_t tsc = rte_rdtsc();
        meter.lap(tsc, worked);
        worked = forward(from, to, totals) > 0;
        if (worked) last_frame = tsc;
        else if (totals.frames > 0 && tsc - last_frame > idle_ms * hz / 1000) break;
    }
    meter.lap(rte_rdtsc(), worked);
}

bool parse_args(int argc, char** argv, std::uint64_t& idle_ms) {
    for (int i = 0; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--idle-ms" && i + 1 < argc) {
            std::string_view value = argv[++i];
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), idle_ms);
            if (ec != std::errc{} || end != value.data() + value.size()) return false;
        } else {
            return false;
        }
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    int eal_args = rte_eal_init(argc, argv);
    if (eal_args < 0) {
        std::fprintf(stderr, "null_forward: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
        return 2;
    }
    std::uint64_t idle_ms = 200;
    if (!parse_args(argc - eal_args - 1, argv + eal_args + 1, idle_ms)) {
        std::fprintf(stderr, "null_forward: usage: null_forward [EAL options] [-- --idle-ms N]\n");
        rte_eal_cleanup();
        return 2;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    unsigned ports = rte_eth_dev_count_avail();
    rte_mempool* pool = ports == 1 || ports == 2
                            ? rte_pktmbuf_pool_create("null_forward_pool", pool_size, pool_cache, 0,
                                                      RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()))
                            : nullptr;
    int rc = 0;
    if (ports != 1 && ports != 2) {
        std::fprintf(stderr, "null_forward: need one or two ports (--vdev), have %u\n", ports);
        rc = 2;
    } else if (!pool) {
        std::fprintf(stderr, "null_forward: mempool: %s\n", rte_strerror(rte_errno));
        rc = 1;
    } else if (!setup_port(0, pool) || (ports == 2 && !setup_port(1, pool))) {
        std::fprintf(stderr, "null_forward: cannot set up the ports\n");
        rc = 1;
    } else {
        Totals totals;
        bm::dpdk::PollCounters counters;
        run(0, std::uint16_t(ports - 1), idle_ms, totals, counters);
        std::printf("null_forward.frames %llu\nnull_forward.bytes %llu\nnull_forward.sent %llu\n"
                    "null_forward.dropped %llu\npoll.busy_cycles %llu\npoll.total_cycles %llu\npoll.tsc_hz %llu\n",
                    (unsigned long long)totals.frames, (unsigned long long)totals.bytes,
                    (unsigned long long)totals.sent, (unsigned long long)totals.dropped,
                    (unsigned long long)counters.busy_cycles.get(), (unsigned long long)counters.total_cycles.get(),
                    (unsigned long long)counters.tsc_hz.get());
    }
    for (unsigned p = 0; p < ports && p < 2; ++p) {
        rte_eth_dev_stop(std::uint16_t(p));
        rte_eth_dev_close(std::uint16_t(p));
    }
    if (pool) rte_mempool_free(pool);
    rte_eal_cleanup();
    return rc;
}
