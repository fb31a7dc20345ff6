// IPv4 (RFC 791) as a host sees it: every check of RFC 1122 §3.2.1 that
// matters to an end system, no forwarding, no reassembly, no options.
// Parsing never trusts a length field: each is checked against the bytes
// that actually arrived.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/dpdk/drop_reason.hpp"

namespace bm::dpdk {

inline constexpr std::size_t ipv4_header_size = 20;  // we never send options
inline constexpr std::uint8_t ip_protocol_icmp = 1;
inline constexpr std::uint8_t ip_protocol_tcp = 6;
inline constexpr std::uint8_t ip_protocol_udp = 17;
inline constexpr std::uint8_t default_ttl = 64;  // RFC 1700 / Linux default

struct Ipv4Packet {
    std::uint8_t header_length = 0;  // bytes
    std::uint8_t tos = 0;
    std::uint16_t total_length = 0;
    std::uint16_t identification = 0;
    std::uint16_t flags_fragment = 0;  // flags (3 bits) and fragment offset
    std::uint8_t ttl = 0;
    std::uint8_t protocol = 0;
    std::uint32_t source = 0, destination = 0;  // host byte order
    std::span<const std::uint8_t> payload;      // total_length - header_length bytes
};

// `bytes` is the Ethernet payload, possibly padded past the IP datagram
// (Ethernet minimum frame). Checksum verification is skipped when the NIC
// has already verified it (offload).
DropReason parse_ipv4(std::span<const std::uint8_t> bytes, bool verify_checksum, Ipv4Packet& out);

struct Ipv4Emit {
    std::uint32_t source = 0, destination = 0;
    std::uint8_t protocol = 0;
    std::uint16_t payload_length = 0;
    std::uint16_t identification = 0;
    bool header_checksum = true;  // false: left zero for the NIC (offload)
};

// Writes a 20-byte header with DF set (RFC 6864: the ID then need not be
// unique). `out` must hold ipv4_header_size bytes.
void emit_ipv4(std::span<std::uint8_t> out, const Ipv4Emit& header);

// Sources a host must not answer (RFC 1122 §3.2.1.3).
bool is_martian_source(std::uint32_t source);

// Our subnet: on-link destinations are resolved directly, the rest go to
// the gateway.
struct Subnet {
    std::uint32_t address = 0;  // ours, host byte order
    std::uint8_t prefix = 24;
    std::uint32_t mask() const { return prefix == 0 ? 0 : ~std::uint32_t(0) << (32 - prefix); }
    bool on_link(std::uint32_t ip) const { return ((ip ^ address) & mask()) == 0; }
    std::uint32_t directed_broadcast() const { return address | ~mask(); }
};

}  // namespace bm::dpdk
