// UDP (RFC 768): header checks, the datagram's payload, and datagrams of
// our own (the relay client's DNS queries) as whole frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/dpdk/drop_reason.hpp"
#include "dataplane/dpdk/frame.hpp"

namespace bm::dpdk {

inline constexpr std::size_t udp_header_size = 8;

struct UdpDatagram {
    std::uint16_t source_port = 0, destination_port = 0;
    std::span<const std::uint8_t> payload;
};

// `bytes` is the IP payload; source and destination (host order) feed the
// pseudo-header. A zero checksum field means the sender computed none.
DropReason parse_udp(std::span<const std::uint8_t> bytes, std::uint32_t source, std::uint32_t destination,
                     bool verify_checksum, UdpDatagram& out);

struct UdpEmit {
    std::uint32_t source = 0, destination = 0;  // for the pseudo-header
    std::uint16_t source_port = 0, destination_port = 0;
};

// Writes the header in front of the payload already in `datagram` (header
// space included) and its checksum, or with offload the pseudo-header sum
// the NIC completes. Returns the datagram length.
std::size_t emit_udp(std::span<std::uint8_t> datagram, const UdpEmit& header, bool offload = false);

// A whole Ethernet + IPv4 + UDP frame. Returns its length, or 0 when it
// does not fit in `out` (no fragmentation: a datagram is one frame).
std::size_t emit_udp_frame(std::span<std::uint8_t> out, const FrameEnds& ends, const UdpEmit& header,
                           std::span<const std::uint8_t> payload, ChecksumOffload offload);

}  // namespace bm::dpdk
