// Ethernet II framing (IEEE 802.3 with EtherType). No VLAN tags: a tagged
// frame has EtherType 0x8100 and is dropped as an unknown type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/dpdk/drop_reason.hpp"
#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::dpdk {

struct MacAddress {
    std::array<std::uint8_t, 6> bytes{};

    static constexpr MacAddress broadcast() { return {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
    bool is_broadcast() const { return *this == broadcast(); }
    bool is_multicast() const { return bytes[0] & 0x01; }  // group bit; broadcast included
    bool operator==(const MacAddress&) const = default;
};

inline constexpr std::size_t ethernet_header_size = 14;
inline constexpr std::size_t ethernet_min_frame = 60;  // without the FCS
inline constexpr std::uint16_t ethertype_ipv4 = 0x0800;
inline constexpr std::uint16_t ethertype_arp = 0x0806;

struct EthernetHeader {
    MacAddress destination;
    MacAddress source;
    std::uint16_t ethertype = 0;
};

inline DropReason parse_ethernet(std::span<const std::uint8_t> frame, EthernetHeader& out) {
    if (frame.size() < ethernet_header_size) return DropReason::eth_truncated;
    for (std::size_t i = 0; i < 6; ++i) {
        out.destination.bytes[i] = frame[i];
        out.source.bytes[i] = frame[6 + i];
    }
    out.ethertype = load_be16(frame.data() + 12);
    return DropReason::none;
}

// `out` must hold ethernet_header_size bytes.
inline void emit_ethernet(std::span<std::uint8_t> out, const EthernetHeader& header) {
    for (std::size_t i = 0; i < 6; ++i) {
        out[i] = header.destination.bytes[i];
        out[6 + i] = header.source.bytes[i];
    }
    store_be16(out.data() + 12, header.ethertype);
}

// What we accept with promiscuous mode off: our unicast address or
// broadcast (ARP requests). Multicast (IPv6 ND, mDNS, LLDP) is not ours.
inline bool addressed_to(const MacAddress& destination, const MacAddress& ours) {
    return destination == ours || destination.is_broadcast();
}

}  // namespace bm::dpdk
