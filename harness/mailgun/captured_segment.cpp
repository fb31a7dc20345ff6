#include "harness/mailgun/captured_segment.hpp"

#include "dataplane/dpdk/ethernet.hpp"
#include "dataplane/dpdk/ipv4.hpp"
#include "dataplane/dpdk/tcp_wire.hpp"
#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::mailgun {

namespace {

// LINKTYPE_* values (tcpdump.org/linktypes.html).
constexpr std::uint32_t linktype_null = 0;       // BSD loopback: 4-octet family, host order
constexpr std::uint32_t linktype_ethernet = 1;
constexpr std::uint32_t linktype_raw_bsd = 12;   // raw IP on OpenBSD's DLT numbering
constexpr std::uint32_t linktype_raw = 101;
constexpr std::uint32_t linktype_linux_sll = 113;
constexpr std::uint32_t linktype_ipv4 = 228;
constexpr std::uint32_t linktype_linux_sll2 = 276;
constexpr std::uint16_t ethertype_vlan = 0x8100, ethertype_qinq = 0x88a8;
constexpr std::uint32_t family_inet = 2;

using Bytes = std::span<const std::uint8_t>;

// The IPv4 packet inside a frame, or an empty span.
Bytes ipv4_in(const CapturedFrame& frame) {
    Bytes b = frame.bytes;
    switch (frame.linktype) {
    case linktype_ethernet: {
        if (b.size() < dpdk::ethernet_header_size) return {};
        std::size_t at = 12;
        std::uint16_t type = dpdk::load_be16(b.data() + at);
        while ((type == ethertype_vlan || type == ethertype_qinq) && b.size() >= at + 6) {
            at += 4;
            type = dpdk::load_be16(b.data() + at);
        }
        return type == dpdk::ethertype_ipv4 ? b.subspan(at + 2) : Bytes{};
    }
    case linktype_linux_sll:
        if (b.size() < 16 || dpdk::load_be16(b.data() + 14) != dpdk::ethertype_ipv4) return {};
        return b.subspan(16);
    case linktype_linux_sll2:
        if (b.size() < 20 || dpdk::load_be16(b.data()) != dpdk::ethertype_ipv4) return {};
        return b.subspan(20);
    case linktype_null: {
        if (b.size() < 4) return {};
        std::uint32_t family = b[0] | (b[1] << 8) | (b[2] << 16) | (std::uint32_t{b[3]} << 24);
        if (family != family_inet && __builtin_bswap32(family) != family_inet) return {};
        return b.subspan(4);
    }
    case linktype_raw:
    case linktype_raw_bsd:
    case linktype_ipv4: return b;
    default: return {};
    }
}

}  // namespace

std::optional<CapturedSegment> decode_segment(const CapturedFrame& frame) {
    Bytes ip = ipv4_in(frame);
    if (ip.empty()) return std::nullopt;
    dpdk::Ipv4Packet packet;
    if (dpdk::parse_ipv4(ip, false, packet) != dpdk::DropReason::none || packet.protocol != dpdk::ip_protocol_tcp)
        return std::nullopt;
    tcp::SegmentIn tcp;
    if (dpdk::parse_tcp(packet.payload, packet.source, packet.destination, false, tcp) != dpdk::DropReason::none)
        return std::nullopt;
    CapturedSegment s;
    s.time_ns = frame.time_ns;
    // SegmentIn's "local" side is the packet's destination.
    s.source_ip = tcp.tuple.remote_ip;
    s.source_port = tcp.tuple.remote_port;
    s.destination_ip = tcp.tuple.local_ip;
    s.destination_port = tcp.tuple.local_port;
    s.seq = tcp.seq;
    s.ack = tcp.ack;
    s.flags = tcp.flags;
    s.payload = tcp.payload;
    return s;
}

}  // namespace bm::mailgun
