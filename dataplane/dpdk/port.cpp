#include "dataplane/dpdk/port.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace bm::dpdk {
namespace {

constexpr unsigned mempool_cache = 256;
// Frames the stack holds outside the PMD's rings: a burst in flight, the
// tx staging queue (TxQueue::capacity) and the ARP pending queue (see
// poll_loop.hpp), with room.
constexpr std::uint32_t stack_frames = 4096;

[[noreturn]] void fail(const std::string& what, int error) {
    throw std::runtime_error(what + ": " + rte_strerror(error < 0 ? -error : error));
}

// Sized by what can be in flight, not by connections: a TCB holds no mbuf
// (its unsent and unacknowledged data is in tcp/chunk_pool chunks, and a
// segment is cut from them again when it is (re)sent), so an idle
// connection costs none. In flight: both rings filled, the stack's own
// queues and every lcore's mempool cache, rounded to 2^n - 1 (the
// mempool's best size). A pass that emits more than that (every session's
// shutdown line at once) finds the pool empty: the frame is dropped,
// counted as tx_no_mbuf, and TCP sends the segment again (RFC 6298).
std::uint32_t mbuf_count() {
    std::uint64_t n = std::uint64_t(Port::rx_descriptors) + Port::tx_descriptors + stack_frames +
                      std::uint64_t(mempool_cache) * rte_lcore_count();
    std::uint32_t size = 1;
    while (size - 1 < n) size <<= 1;
    return size - 1;
}

}  // namespace

Port::Port(const PortSettings& settings) {
    if (rte_eth_dev_count_avail() == 0)
        throw std::runtime_error("no DPDK port: give the EAL a --vdev (e.g. net_tap0,iface=bm0) or bind a NIC");
    id_ = std::uint16_t(rte_eth_find_next_owned_by(0, RTE_ETH_DEV_NO_OWNER));
    char name[RTE_ETH_NAME_MAX_LEN] = "";
    rte_eth_dev_get_name_by_port(id_, name);
    name_ = name;
    std::uint32_t mbufs = mbuf_count();
    std::string pool_name = "bm_pool_" + std::to_string(id_);
    pool_ = rte_pktmbuf_pool_create(pool_name.c_str(), mbufs, mempool_cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    rte_eth_dev_socket_id(id_));
    if (!pool_)
        fail("cannot create a mempool of " + std::to_string(mbufs) + " mbufs (raise EAL -m)",
             rte_errno);
    try {
        configure(settings);
    } catch (...) {
        release();  // a throwing constructor runs no destructor
        throw;
    }
}

Port::~Port() { release(); }

void Port::release() {
    if (started_) rte_eth_dev_stop(id_);
    if (configured_) rte_eth_dev_close(id_);
    started_ = configured_ = false;
    if (pool_) rte_mempool_free(pool_);
    pool_ = nullptr;
}

void Port::configure(const PortSettings& settings) {
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(id_, &info); rc != 0) fail("port " + name_ + ": device info", rc);
    driver_ = info.driver_name ? info.driver_name : "?";

    rte_eth_conf conf{};
    // Offload what the device offers; the stack checks and computes in
    // software whatever it does not.
    constexpr std::uint64_t rx_l4 = RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
    rx_offload_.ipv4 = info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    rx_offload_.l4 = (info.rx_offload_capa & rx_l4) == rx_l4;
    if (rx_offload_.ipv4) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    if (rx_offload_.l4) conf.rxmode.offloads |= rx_l4;
    tx_offload_.ipv4 = info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    tx_offload_.tcp = info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
    tx_offload_.udp = info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    if (tx_offload_.ipv4) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    if (tx_offload_.tcp) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
    if (tx_offload_.udp) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_UDP_CKSUM;

    if (int rc = configure_device(conf, settings.rx_interrupts); rc != 0) fail("port " + name_ + ": configure", rc);
    configured_ = true;
    std::uint16_t rx_desc = rx_descriptors, tx_desc = tx_descriptors;
    if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(id_, &rx_desc, &tx_desc); rc != 0)
        fail("port " + name_ + ": descriptor counts", rc);
    int socket = rte_eth_dev_socket_id(id_);
    rte_eth_rxconf rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    if (int rc = rte_eth_rx_queue_setup(id_, 0, rx_desc, unsigned(socket), &rxconf, pool_); rc != 0)
        fail("port " + name_ + ": rx queue", rc);
    rte_eth_txconf txconf = info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    if (int rc = rte_eth_tx_queue_setup(id_, 0, tx_desc, unsigned(socket), &txconf); rc != 0)
        fail("port " + name_ + ": tx queue", rc);

    rte_ether_addr address{};
    if (int rc = rte_eth_macaddr_get(id_, &address); rc != 0) fail("port " + name_ + ": MAC address", rc);
    std::copy(std::begin(address.addr_bytes), std::end(address.addr_bytes), mac_.bytes.begin());
    std::uint16_t mtu = 0;
    if (rte_eth_dev_get_mtu(id_, &mtu) == 0 && mtu >= 576) mtu_ = mtu;

    if (int rc = rte_eth_dev_start(id_); rc != 0) fail("port " + name_ + ": start", rc);
    started_ = true;
    // Only our MAC and broadcast; some PMDs (ring, pcap) can't, which is fine:
    // the stack checks the destination MAC itself.
    rte_eth_promiscuous_disable(id_);
    wait_for_link(settings.link_wait_ms);
}

int Port::configure_device(rte_eth_conf& conf, bool rx_interrupts) {
    conf.intr_conf.rxq = rx_interrupts ? 1 : 0;
    int rc = rte_eth_dev_configure(id_, 1, 1, &conf);
    if (rc == 0 || !rx_interrupts) return rc;
    conf.intr_conf.rxq = 0;
    return rte_eth_dev_configure(id_, 1, 1, &conf);
}

void Port::wait_for_link(std::uint32_t wait_ms) {
    constexpr std::uint32_t step_ms = 100;
    for (std::uint32_t waited = 0;; waited += step_ms) {
        rte_eth_link link{};
        if (rte_eth_link_get_nowait(id_, &link) == 0 && link.link_status == RTE_ETH_LINK_UP) {
            link_up_ = true;
            return;
        }
        if (waited >= wait_ms) return;
        rte_delay_ms(step_ms);
    }
}

std::string Port::describe() const {
    char text[256];
    const auto& m = mac_.bytes;
    std::snprintf(text, sizeof text,
                  "%s (%s), mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u, link %s, rx cksum %s%s, tx cksum %s%s%s",
                  name_.c_str(), driver_.c_str(), m[0], m[1], m[2], m[3], m[4], m[5], unsigned(mtu_),
                  link_up_ ? "up" : "down (continuing)", rx_offload_.ipv4 ? "ip" : "sw-ip",
                  rx_offload_.l4 ? "+l4" : "+sw-l4", tx_offload_.ipv4 ? "ip" : "sw-ip",
                  tx_offload_.tcp ? "+tcp" : "+sw-tcp", tx_offload_.udp ? "+udp" : "+sw-udp");
    return text;
}

}  // namespace bm::dpdk
