// The IPv4 host of the DPDK build: what the stack does with a received
// frame below TCP — Ethernet, ARP (RFC 826; frames kept while their next
// hop is resolved, RFC 1122 §2.3.2.2), IPv4 with a host's checks (RFC 1122
// §3.2.1), ICMP echo, UDP to the receivers bound here — handing each TCP
// segment to the engine; and how a segment or datagram leaves: next hop,
// ARP, the frame built with or without checksum offload, the tx queue.
// It is the engine's tcp::Output and the UDP services' UdpSender.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "dataplane/dpdk/arp.hpp"
#include "dataplane/dpdk/counters.hpp"
#include "dataplane/dpdk/ethernet.hpp"
#include "dataplane/dpdk/ipv4.hpp"
#include "dataplane/dpdk/port.hpp"
#include "dataplane/dpdk/stack_config.hpp"
#include "dataplane/dpdk/tx_queue.hpp"
#include "dataplane/dpdk/udp_ports.hpp"
#include "tcp/engine.hpp"
#include "tcp/segment.hpp"

struct rte_mbuf;

namespace bm::dpdk {

class Ipv4Host final : public tcp::Output, public UdpSender {
public:
    Ipv4Host(const Addressing& addressing, Port& port, Counters& counters);
    ~Ipv4Host();
    Ipv4Host(const Ipv4Host&) = delete;
    Ipv4Host& operator=(const Ipv4Host&) = delete;

    // Received TCP segments go to `engine` (built after the host: it sends
    // through it).
    void attach(tcp::Engine& engine) { engine_ = &engine; }
    void bind(UdpReceiver& receiver) { udp_ports_.bind(receiver); }

    // The loop's time for this iteration (ARP ages, segments' arrival).
    void set_now(std::uint64_t now_us) { now_us_ = now_us; }
    // One received frame; the host frees it or reuses it for a reply.
    void receive(rte_mbuf* frame);
    void expire_pending();
    TxQueue& tx() { return tx_; }
    std::size_t arp_entries() const { return arp_.resolved_entries(); }

    // tcp::Output
    void emit(const tcp::SegmentOut& segment, std::span<const std::uint8_t> payload_a,
              std::span<const std::uint8_t> payload_b) override;
    // UdpSender
    bool send_udp(std::uint16_t local_port, std::uint32_t destination, std::uint16_t destination_port,
                  std::span<const std::uint8_t> payload) override;

private:
    // Each returns true when it kept the mbuf (reused it for a reply).
    bool on_arp(std::span<const std::uint8_t> bytes);
    bool on_ipv4(rte_mbuf* frame, const EthernetHeader& ethernet);
    bool on_icmp(rte_mbuf* frame, const EthernetHeader& ethernet, const Ipv4Packet& ip);
    void on_udp(rte_mbuf* frame, const Ipv4Packet& ip);
    void on_tcp(rte_mbuf* frame, const Ipv4Packet& ip);

    std::optional<std::uint32_t> next_hop(std::uint32_t destination) const;
    rte_mbuf* new_frame();
    void set_offload_flags(rte_mbuf* frame, bool ip_checksum, std::uint64_t l4_checksum);
    void transmit(rte_mbuf* frame, std::uint32_t hop, const ArpCache::Lookup& mac);
    void send_arp(std::uint16_t operation, const MacAddress& target_mac, std::uint32_t target_ip);
    void release_pending(std::uint32_t ip, const MacAddress& mac);

    Port& port_;
    Counters& counters_;
    const Subnet subnet_;
    const std::optional<std::uint32_t> gateway_;
    tcp::Engine* engine_ = nullptr;
    std::uint64_t now_us_ = 0;
    std::uint16_t ip_identification_ = 0;

    ArpCache arp_;
    ArpPending<rte_mbuf*> arp_pending_;
    TxQueue tx_;
    UdpPorts udp_ports_;
};

}  // namespace bm::dpdk
