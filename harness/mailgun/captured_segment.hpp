// The TCP segments of a capture: link layer (Ethernet with or without
// 802.1Q tags, Linux cooked SLL/SLL2, BSD loopback, raw IP) down to IPv4
// and TCP, through the DPDK build's own parsers (dataplane/dpdk: ipv4,
// tcp_wire; checksums are not verified, since a capture taken on the
// sending host holds segments before checksum offload filled them in).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "harness/mailgun/capture_file.hpp"

namespace bm::mailgun {

struct CapturedSegment {
    std::uint64_t time_ns = 0;
    std::uint32_t source_ip = 0, destination_ip = 0;  // host byte order
    std::uint16_t source_port = 0, destination_port = 0;
    std::uint32_t seq = 0, ack = 0;
    std::uint8_t flags = 0;  // tcp::Flag bits
    std::span<const std::uint8_t> payload;  // into the frame's bytes
};

// Nothing when the frame is not IPv4/TCP, or is cut or malformed.
std::optional<CapturedSegment> decode_segment(const CapturedFrame& frame);

}  // namespace bm::mailgun
