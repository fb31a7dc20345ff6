// memif_bridge: a two-port frame forwarder for testing (testpmd's io mode,
// which Debian's DPDK package does not ship).
//
//   memif_bridge [EAL options]
//
// e.g. with EAL options --no-huge -m 512 --no-pci --file-prefix br
//      --vdev net_tap0,iface=bmm0 --vdev net_memif0,role=client,socket=/run/x/memif.sock
//
// Every frame received on port 0 is sent on port 1 and vice versa, untouched;
// what a TX ring does not take is freed (a dropped frame, as on a wire).
// This puts a kernel interface (the TAP) in front of a DPDK application that
// only speaks memif, so ordinary clients can reach it. Once both ports are
// started and both links are up, one line "memif_bridge: ready ..." goes to
// stdout; SIGINT or SIGTERM stops it, with the frame counts on stdout.
//
// A memif client whose link is down is restarted every second: a DPDK memif
// server refuses connections ("ID not found") until its application has
// started the port, and DPDK's memif client does not retry by itself
// (VPP's and libmemif's clients do).
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr std::uint16_t burst = 32;
constexpr std::uint16_t ring_size = 1024;
// Both RX rings full, both TX rings full, one burst in hand, the cache.
constexpr unsigned pool_size = 8191;
constexpr unsigned pool_cache = 256;
// A memif client's start fails while the server's socket is not there yet;
// retry for a while instead of making the caller order things exactly.
constexpr unsigned start_attempts = 50, start_retry_ms = 100;
constexpr unsigned link_check_ms = 100, memif_reconnect_ms = 1000;
// After this many empty polls in a row, nap: the bridge shares the machine
// with the application under test, which also polls.
constexpr unsigned idle_polls_before_nap = 1000;
constexpr unsigned nap_us = 20;

volatile std::sig_atomic_t stop = 0;
void on_signal(int) { stop = 1; }

struct Direction {
    // dropped: the TX ring was full; no_link: the far port's link was down
    // (frames that arrive before the peer is connected, or after it left).
    std::uint64_t rx = 0, tx = 0, dropped = 0, no_link = 0;
};

std::string port_name(std::uint16_t port) {
    char name[RTE_ETH_NAME_MAX_LEN] = "";
    rte_eth_dev_get_name_by_port(port, name);
    return name;
}

// One RX and one TX queue, no offloads (frames pass through as they are),
// multi-segment TX if offered (memif hands over chained mbufs when a frame
// is larger than one mbuf).
bool setup_port(std::uint16_t port, rte_mempool* pool) {
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port, &info) != 0) return false;
    rte_eth_conf conf{};
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    std::uint16_t rx_desc = ring_size, tx_desc = ring_size;
    int socket = rte_eth_dev_socket_id(port);
    rte_eth_txconf txconf = info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 || rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc) != 0 ||
        rte_eth_rx_queue_setup(port, 0, rx_desc, unsigned(socket), nullptr, pool) != 0 ||
        rte_eth_tx_queue_setup(port, 0, tx_desc, unsigned(socket), &txconf) != 0)
        return false;
    for (unsigned attempt = 1;; ++attempt) {
        int rc = rte_eth_dev_start(port);
        if (rc == 0) break;
        if (attempt == start_attempts || stop) {
            std::fprintf(stderr, "memif_bridge: port %s: start: %s\n", port_name(port).c_str(), rte_strerror(-rc));
            return false;
        }
        rte_delay_ms(start_retry_ms);
    }
    // A bridge forwards frames for any MAC address.
    rte_eth_promiscuous_enable(port);
    return true;
}

bool link_up(std::uint16_t port) {
    rte_eth_link link{};
    return rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
}

// Moves one burst from `from` to `to`; true if anything came in.
bool forward(std::uint16_t from, std::uint16_t to, Direction& d) {
    std::array<rte_mbuf*, burst> frames;
    std::uint16_t n = rte_eth_rx_burst(from, 0, frames.data(), burst);
    if (n == 0) return false;
    std::uint16_t sent = rte_eth_tx_burst(to, 0, frames.data(), n);
    for (std::uint16_t i = sent; i < n; ++i) rte_pktmbuf_free(frames[i]);
    d.rx += n;
    d.tx += sent;
    if (sent < n) (link_up(to) ? d.dropped : d.no_link) += n - sent;
    return true;
}

bool is_memif(std::uint16_t port) {
    rte_eth_dev_info info{};
    return rte_eth_dev_info_get(port, &info) == 0 && info.driver_name &&
           std::strcmp(info.driver_name, "net_memif") == 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (rte_eal_init(argc, argv) < 0) {
        std::fprintf(stderr, "memif_bridge: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
        return 2;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    int rc = 0;
    if (rte_eth_dev_count_avail() != 2) {
        std::fprintf(stderr, "memif_bridge: need exactly two ports (two --vdev), have %u\n",
                     unsigned(rte_eth_dev_count_avail()));
        rte_eal_cleanup();
        return 2;
    }
    rte_mempool* pool =
        rte_pktmbuf_pool_create("bridge_pool", pool_size, pool_cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
    std::array<std::uint16_t, 2> ports{};
    unsigned found = 0;
    std::uint16_t port_id;
    RTE_ETH_FOREACH_DEV(port_id) {
        if (found < 2) ports[found++] = port_id;
    }
    bool ok = pool != nullptr;
    if (!pool) std::fprintf(stderr, "memif_bridge: mempool: %s\n", rte_strerror(rte_errno));
    unsigned started = 0;
    for (; ok && started < 2; ++started) {
        if (!setup_port(ports[started], pool)) {
            std::fprintf(stderr, "memif_bridge: cannot set up port %s\n", port_name(ports[started]).c_str());
            ok = false;
            break;
        }
    }
    if (ok) {
        std::array<Direction, 2> dir;  // [0]: port 0 -> port 1, [1]: back
        // The memif port (meant to be run as the client) reconnects when down.
        const std::array<bool, 2> reconnect{is_memif(ports[0]), is_memif(ports[1])};
        const std::uint64_t ms = rte_get_tsc_hz() / 1000;
        const std::uint64_t started_at = rte_get_tsc_cycles();
        std::array<std::uint64_t, 2> last_start{started_at, started_at};
        bool ready = false;
        unsigned idle = 0;
        std::uint64_t next_link_check = 0;
        while (!stop) {
            // Forward from the first moment: frames for a port whose link is
            // not up yet are refused by its PMD and counted as no_link.
            bool busy = forward(ports[0], ports[1], dir[0]);
            busy = forward(ports[1], ports[0], dir[1]) || busy;
            std::uint64_t now = rte_get_tsc_cycles();
            if (now >= next_link_check) {
                next_link_check = now + link_check_ms * ms;
                std::array<bool, 2> up{link_up(ports[0]), link_up(ports[1])};
                for (unsigned i = 0; i < 2; ++i) {
                    // Stop and start again: that is how a DPDK memif client connects anew.
                    if (!up[i] && reconnect[i] && now - last_start[i] >= memif_reconnect_ms * ms) {
                        last_start[i] = now;
                        rte_eth_dev_stop(ports[i]);
                        if (int err = rte_eth_dev_start(ports[i]); err != 0)
                            std::fprintf(stderr, "memif_bridge: port %s: restart: %s\n", port_name(ports[i]).c_str(),
                                         rte_strerror(-err));
                    }
                }
                if (!ready && up[0] && up[1]) {
                    ready = true;
                    std::printf("memif_bridge: ready: %s <-> %s, links up after %.2f s\n",
                                port_name(ports[0]).c_str(), port_name(ports[1]).c_str(),
                                double(now - started_at) / double(rte_get_tsc_hz()));
                    std::fflush(stdout);
                }
            }
            if (busy) {
                idle = 0;
            } else if (++idle >= idle_polls_before_nap) {
                usleep(nap_us);
            }
        }
        for (unsigned i = 0; i < 2; ++i)
            std::printf("memif_bridge: %s -> %s: rx %lu tx %lu dropped %lu no_link %lu\n",
                        port_name(ports[i]).c_str(), port_name(ports[1 - i]).c_str(), (unsigned long)dir[i].rx,
                        (unsigned long)dir[i].tx, (unsigned long)dir[i].dropped, (unsigned long)dir[i].no_link);
        std::fflush(stdout);
    } else {
        rc = 1;
    }
    // Closing the ports removes the TAP interface and disconnects the memif.
    for (unsigned i = 0; i < 2; ++i) {
        if (i < started) rte_eth_dev_stop(ports[i]);
        rte_eth_dev_close(ports[i]);
    }
    if (pool) rte_mempool_free(pool);
    rte_eal_cleanup();
    return rc;
}
