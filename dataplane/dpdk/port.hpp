// One Ethernet port of any PMD (tap, af_packet, pcap, ring, memif, a PCI
// NIC): one RX and one TX queue, a mempool sized for the frames in flight, checksum
// offload where the device has it, promiscuous mode off.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/dpdk/ethernet.hpp"
#include "dataplane/dpdk/frame.hpp"

struct rte_mempool;
struct rte_eth_conf;

namespace bm::dpdk {

struct PortSettings {
    std::uint32_t link_wait_ms = 5000;   // bounded: a port without link still starts
    // Ask for rx interrupts (intr_conf.rxq) so an idle loop can sleep until
    // a frame comes (RxWaiter); a PMD that refuses them is configured
    // without, and the loop sleeps in short bounded steps instead.
    bool rx_interrupts = false;
};

struct RxChecksumOffload {
    bool ipv4 = false;
    bool l4 = false;  // TCP and UDP
};

class Port {
public:
    // The first available port (the EAL's --vdev or a bound PCI device).
    // Throws std::runtime_error with what failed and why.
    explicit Port(const PortSettings& settings);
    ~Port();
    Port(const Port&) = delete;
    Port& operator=(const Port&) = delete;

    std::uint16_t id() const { return id_; }
    rte_mempool* pool() const { return pool_; }
    const MacAddress& mac() const { return mac_; }
    std::uint16_t mtu() const { return mtu_; }
    ChecksumOffload tx_offload() const { return tx_offload_; }
    RxChecksumOffload rx_offload() const { return rx_offload_; }
    bool link_up() const { return link_up_; }
    // "net_tap0 (net_tap), mac 02:..:.., mtu 1500, link up, rx cksum ip+l4, tx cksum ip+tcp+udp"
    std::string describe() const;

    static constexpr std::uint16_t rx_descriptors = 1024;
    static constexpr std::uint16_t tx_descriptors = 1024;

private:
    void configure(const PortSettings& settings);
    int configure_device(rte_eth_conf& conf, bool rx_interrupts);
    void wait_for_link(std::uint32_t wait_ms);
    void release();

    std::uint16_t id_ = 0;
    rte_mempool* pool_ = nullptr;
    MacAddress mac_;
    std::uint16_t mtu_ = 1500;
    ChecksumOffload tx_offload_;
    RxChecksumOffload rx_offload_;
    bool link_up_ = false;
    bool configured_ = false, started_ = false;
    std::string name_, driver_;
};

}  // namespace bm::dpdk
