// TCP header and options on the wire (RFC 9293 §3.1; options: MSS RFC 9293
// §3.2, window scale and timestamps RFC 7323, SACK-permitted RFC 2018),
// translated to and from the engine's values (tcp/segment.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/dpdk/drop_reason.hpp"
#include "dataplane/dpdk/frame.hpp"
#include "tcp/segment.hpp"

namespace bm::dpdk {

inline constexpr std::size_t tcp_header_min = 20;
inline constexpr std::size_t tcp_header_max = 60;

// `bytes` is the IP payload; source and destination (host order) are the
// IP addresses (pseudo-header; and the 4-tuple, ours = destination). The
// payload span in `out` points into `bytes`.
DropReason parse_tcp(std::span<const std::uint8_t> bytes, std::uint32_t source, std::uint32_t destination,
                     bool verify_checksum, tcp::SegmentIn& out);

// Parses the option bytes between the fixed header and the data.
DropReason parse_tcp_options(std::span<const std::uint8_t> options, tcp::TcpOptions& out);

// Bytes the options of `options` take on the wire (a multiple of 4).
std::size_t tcp_options_length(const tcp::TcpOptions& options);

// Writes header and options at the start of `segment`, whose payload is
// already in place after them; `segment` spans header + payload. Fills the
// checksum, or with offload the pseudo-header sum the NIC expects.
// Returns the header length.
std::size_t emit_tcp(std::span<std::uint8_t> segment, const tcp::SegmentOut& header, bool offload);

// A whole Ethernet + IPv4 + TCP frame. Returns its length, or 0 when it
// does not fit in `out`.
std::size_t emit_tcp_frame(std::span<std::uint8_t> out, const FrameEnds& ends, const tcp::SegmentOut& header,
                           std::span<const std::uint8_t> payload_a, std::span<const std::uint8_t> payload_b,
                           ChecksumOffload offload);

}  // namespace bm::dpdk
