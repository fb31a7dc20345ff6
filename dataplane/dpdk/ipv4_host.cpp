#include "dataplane/dpdk/ipv4_host.hpp"

#include <rte_mbuf.h>

#include <algorithm>

#include "dataplane/dpdk/icmp.hpp"
#include "dataplane/dpdk/mbuf_view.hpp"
#include "dataplane/dpdk/tcp_wire.hpp"
#include "dataplane/dpdk/udp.hpp"
#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::dpdk {

Ipv4Host::Ipv4Host(const Addressing& addressing, Port& port, Counters& counters)
    : port_(port),
      counters_(counters),
      subnet_(addressing.subnet),
      gateway_(addressing.gateway),
      tx_(port.id(), counters) {}

Ipv4Host::~Ipv4Host() {
    arp_pending_.clear([](rte_mbuf* m) { rte_pktmbuf_free(m); });
}

// RFC 1122 §2.3.2.2: a frame kept for an ARP reply that never came is
// dropped, counted.
void Ipv4Host::expire_pending() {
    if (arp_pending_.empty()) return;
    arp_pending_.expire(now_us_, arp_.timing().pending_timeout_us, [this](rte_mbuf* m) {
        rte_pktmbuf_free(m);
        counters_.drop(DropReason::arp_unresolved);
    });
}

// ---- receive path ---------------------------------------------------------------

void Ipv4Host::receive(rte_mbuf* frame) {
    counters_.port.rx_packets.add();
    counters_.port.rx_bytes.add(frame->pkt_len);
    bool kept = false;
    EthernetHeader ethernet;
    DropReason why = frame->nb_segs != 1 ? DropReason::multi_segment : parse_ethernet(bytes_of(frame), ethernet);
    if (why == DropReason::none && !addressed_to(ethernet.destination, port_.mac())) why = DropReason::eth_not_for_us;
    if (why == DropReason::none) {
        counters_.rx(Protocol::ethernet);
        auto payload = bytes_of(frame).subspan(ethernet_header_size);
        if (ethernet.ethertype == ethertype_arp) kept = on_arp(payload);
        else if (ethernet.ethertype == ethertype_ipv4) kept = on_ipv4(frame, ethernet);
        else why = DropReason::eth_unknown_type;
    }
    if (why != DropReason::none) counters_.drop(why);
    if (!kept) rte_pktmbuf_free(frame);
}

// RFC 826 "Packet Reception": merge the sender into the cache if known; if
// the packet is for us, add it, and answer a request.
bool Ipv4Host::on_arp(std::span<const std::uint8_t> bytes) {
    ArpPacket packet;
    if (DropReason why = parse_arp(bytes, packet); why != DropReason::none) {
        counters_.drop(why);
        return false;
    }
    counters_.rx(Protocol::arp);
    bool for_us = packet.target_ip == subnet_.address;
    if (packet.sender_ip != 0 && subnet_.on_link(packet.sender_ip)) {  // 0: an RFC 5227 probe
        arp_.update(packet.sender_ip, packet.sender_mac, now_us_, for_us);
        if (!arp_pending_.empty()) release_pending(packet.sender_ip, packet.sender_mac);
    }
    if (!for_us) {
        counters_.drop(DropReason::arp_not_for_us);
        return false;
    }
    if (packet.operation == arp_request) send_arp(arp_reply, packet.sender_mac, packet.sender_ip);
    return false;
}

bool Ipv4Host::on_ipv4(rte_mbuf* frame, const EthernetHeader& ethernet) {
    auto bytes = bytes_of(frame).subspan(ethernet_header_size);
    auto verdict = rx_verdict(frame->ol_flags, RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
                              RTE_MBUF_F_RX_IP_CKSUM_BAD);
    Ipv4Packet ip;
    DropReason why = verdict == false ? DropReason::ip_bad_checksum : parse_ipv4(bytes, !verdict, ip);
    if (why == DropReason::none) {
        if (ip.destination != subnet_.address) why = DropReason::ip_not_for_us;
        else if (is_martian_source(ip.source) || ip.source == subnet_.directed_broadcast())
            why = DropReason::ip_bad_source;
    }
    if (why != DropReason::none) {
        counters_.drop(why);
        return false;
    }
    counters_.rx(Protocol::ipv4);
    // The source MAC of an IPv4 frame is never learnt: anyone on the link
    // can claim any source address (the gateway's included), and only ARP
    // (RFC 826, on_arp) may bind an address to a MAC.
    switch (ip.protocol) {
    case ip_protocol_icmp: return on_icmp(frame, ethernet, ip);
    case ip_protocol_tcp: on_tcp(frame, ip); return false;
    case ip_protocol_udp: on_udp(frame, ip); return false;
    default: counters_.drop(DropReason::ip_unknown_protocol); return false;
    }
}

// RFC 1122 §3.2.2.6: the reply carries the request's data back; it is
// built in the request's own mbuf (addresses swapped, new checksums). A
// request's IP options are not sent back (the RFC's SHOULD for record route
// and timestamp is not implemented): the message moves up to follow a
// plain 20-octet header.
bool Ipv4Host::on_icmp(rte_mbuf* frame, const EthernetHeader& ethernet, const Ipv4Packet& ip) {
    std::uint8_t* start = rte_pktmbuf_mtod(frame, std::uint8_t*);
    std::uint8_t* after_header = start + ethernet_header_size + ipv4_header_size;
    if (ip.header_length > ipv4_header_size) std::memmove(after_header, ip.payload.data(), ip.payload.size());
    std::span<std::uint8_t> message(after_header, ip.payload.size());
    DropReason why = answer_echo_request(message);
    if (why == DropReason::none || why == DropReason::icmp_not_echo_request) counters_.rx(Protocol::icmp);
    if (why != DropReason::none) {
        counters_.drop(why);
        return false;
    }
    std::span<std::uint8_t> header(start + ethernet_header_size, ipv4_header_size);
    emit_ipv4(header, {ip.destination, ip.source, ip_protocol_icmp, std::uint16_t(message.size()),
                       ip_identification_++, true});
    emit_ethernet({start, ethernet_header_size}, {ethernet.source, port_.mac(), ethertype_ipv4});
    rte_pktmbuf_trim(frame, std::uint16_t(frame->data_len - (ethernet_header_size + ipv4_header_size + message.size())));
    frame->ol_flags = 0;
    counters_.tx(Protocol::icmp);
    counters_.tx(Protocol::ipv4);
    tx_.stage(frame);
    return true;
}

// RFC 1122 §4.1.3.1 says a datagram for a port nobody listens on SHOULD
// draw an ICMP port unreachable; we only count it (udp_no_service). The one
// UDP service is the relay's DNS client, whose ports close as soon as their
// query ends: each late duplicate answer would draw an ICMP message, and
// without a rate limit every spoofed datagram would make us a reflector.
void Ipv4Host::on_udp(rte_mbuf* frame, const Ipv4Packet& ip) {
    auto verdict = rx_verdict(frame->ol_flags, RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                              RTE_MBUF_F_RX_L4_CKSUM_BAD);
    UdpDatagram datagram;
    DropReason why = verdict == false ? DropReason::udp_bad_checksum
                                      : parse_udp(ip.payload, ip.source, ip.destination, !verdict, datagram);
    if (why == DropReason::none) {
        counters_.rx(Protocol::udp);
        if (udp_ports_.deliver(ip.source, datagram)) return;
        why = DropReason::udp_no_service;
    }
    counters_.drop(why);
}

void Ipv4Host::on_tcp(rte_mbuf* frame, const Ipv4Packet& ip) {
    auto verdict = rx_verdict(frame->ol_flags, RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                              RTE_MBUF_F_RX_L4_CKSUM_BAD);
    tcp::SegmentIn segment;
    DropReason why = verdict == false ? DropReason::tcp_bad_checksum
                                      : parse_tcp(ip.payload, ip.source, ip.destination, !verdict, segment);
    if (why != DropReason::none) {
        counters_.drop(why);
        return;
    }
    counters_.rx(Protocol::tcp);
    engine_->on_segment(segment, now_us_);
}

// ---- transmit path -----------------------------------------------------------------

std::optional<std::uint32_t> Ipv4Host::next_hop(std::uint32_t destination) const {
    if (subnet_.on_link(destination)) return destination;
    return gateway_;
}

rte_mbuf* Ipv4Host::new_frame() {
    rte_mbuf* frame = rte_pktmbuf_alloc(port_.pool());
    if (!frame) counters_.drop(DropReason::tx_no_mbuf);
    return frame;
}

// What the NIC computes is asked per frame; without offload the frame
// already carries every checksum.
void Ipv4Host::set_offload_flags(rte_mbuf* frame, bool ip_checksum, std::uint64_t l4_checksum) {
    if (!ip_checksum && l4_checksum == 0) return;
    frame->l2_len = ethernet_header_size;
    frame->l3_len = ipv4_header_size;
    frame->ol_flags = RTE_MBUF_F_TX_IPV4 | (ip_checksum ? RTE_MBUF_F_TX_IP_CKSUM : 0) | l4_checksum;
}

// RFC 1122 §2.3.2.2: a frame for a next hop not yet resolved is kept
// until the ARP reply comes (release_pending), or dropped, counted.
void Ipv4Host::transmit(rte_mbuf* frame, std::uint32_t hop, const ArpCache::Lookup& mac) {
    if (mac.mac) return tx_.stage(frame);
    if (!arp_pending_.push(hop, frame, now_us_)) {
        rte_pktmbuf_free(frame);
        counters_.drop(DropReason::arp_pending_full);
    }
    if (mac.send_request) send_arp(arp_request, MacAddress{}, hop);
}

void Ipv4Host::emit(const tcp::SegmentOut& segment, std::span<const std::uint8_t> payload_a,
                    std::span<const std::uint8_t> payload_b) {
    std::optional<std::uint32_t> hop = next_hop(segment.tuple.remote_ip);
    if (!hop) return counters_.drop(DropReason::tx_no_route);
    rte_mbuf* frame = new_frame();
    if (!frame) return;
    ArpCache::Lookup mac = arp_.lookup(*hop, now_us_);
    FrameEnds ends{port_.mac(), mac.mac.value_or(MacAddress{}), ip_identification_++};
    ChecksumOffload offload = port_.tx_offload();
    std::size_t length = emit_tcp_frame(room_of(frame), ends, segment, payload_a, payload_b, offload);
    if (length == 0) {
        rte_pktmbuf_free(frame);
        return counters_.drop(DropReason::tx_too_big);
    }
    rte_pktmbuf_append(frame, std::uint16_t(length));
    set_offload_flags(frame, offload.ipv4, offload.tcp ? RTE_MBUF_F_TX_TCP_CKSUM : 0);
    counters_.tx(Protocol::tcp);
    counters_.tx(Protocol::ipv4);
    transmit(frame, *hop, mac);
}

bool Ipv4Host::send_udp(std::uint16_t local_port, std::uint32_t destination, std::uint16_t destination_port,
                        std::span<const std::uint8_t> payload) {
    std::optional<std::uint32_t> hop = next_hop(destination);
    if (!hop) {
        counters_.drop(DropReason::tx_no_route);
        return false;
    }
    rte_mbuf* frame = new_frame();
    if (!frame) return false;
    ArpCache::Lookup mac = arp_.lookup(*hop, now_us_);
    FrameEnds ends{port_.mac(), mac.mac.value_or(MacAddress{}), ip_identification_++};
    ChecksumOffload offload = port_.tx_offload();
    UdpEmit header{subnet_.address, destination, local_port, destination_port};
    std::size_t length = emit_udp_frame(room_of(frame), ends, header, payload, offload);
    if (length == 0) {
        rte_pktmbuf_free(frame);
        counters_.drop(DropReason::tx_too_big);
        return false;
    }
    rte_pktmbuf_append(frame, std::uint16_t(length));
    set_offload_flags(frame, offload.ipv4, offload.udp ? RTE_MBUF_F_TX_UDP_CKSUM : 0);
    counters_.tx(Protocol::udp);
    counters_.tx(Protocol::ipv4);
    transmit(frame, *hop, mac);
    return true;
}

void Ipv4Host::release_pending(std::uint32_t ip, const MacAddress& mac) {
    arp_pending_.resolve(ip, [&](rte_mbuf* frame) {
        emit_ethernet({rte_pktmbuf_mtod(frame, std::uint8_t*), ethernet_header_size},
                      {mac, port_.mac(), ethertype_ipv4});
        tx_.stage(frame);
    });
}

void Ipv4Host::send_arp(std::uint16_t operation, const MacAddress& target_mac, std::uint32_t target_ip) {
    rte_mbuf* frame = rte_pktmbuf_alloc(port_.pool());
    if (!frame) return counters_.drop(DropReason::tx_no_mbuf);
    auto* p = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(frame, ethernet_min_frame));
    std::span<std::uint8_t> bytes(p, ethernet_min_frame);
    std::fill(bytes.begin(), bytes.end(), 0);  // padding to the minimum frame
    MacAddress destination = operation == arp_request ? MacAddress::broadcast() : target_mac;
    emit_ethernet(bytes, {destination, port_.mac(), ethertype_arp});
    emit_arp(bytes.subspan(ethernet_header_size), {operation, port_.mac(), subnet_.address, target_mac, target_ip});
    counters_.tx(Protocol::arp);
    (operation == arp_request ? counters_.arp_requests_sent : counters_.arp_replies_sent).add();
    tx_.stage(frame);
}

}  // namespace bm::dpdk
