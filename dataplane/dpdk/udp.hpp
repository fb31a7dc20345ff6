// UDP (RFC 768): header checks and the datagram's payload. No service
// listens yet; the DNS client of the relay will be the first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/dpdk/drop_reason.hpp"

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
// space included) and its checksum. Returns the datagram length.
std::size_t emit_udp(std::span<std::uint8_t> datagram, const UdpEmit& header);

}  // namespace bm::dpdk
