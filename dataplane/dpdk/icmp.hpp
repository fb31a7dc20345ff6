// ICMP (RFC 792): we answer echo requests (RFC 1122 §3.2.2.6 says a host
// MUST) and count everything else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/dpdk/drop_reason.hpp"

namespace bm::dpdk {

inline constexpr std::size_t icmp_header_size = 8;
inline constexpr std::uint8_t icmp_echo_reply = 0;
inline constexpr std::uint8_t icmp_echo_request = 8;

// Turns the echo request in `message` (the whole ICMP message: header,
// identifier, sequence and data) into its reply in place: type 0, same
// identifier, sequence and data, new checksum. On any error `message` is
// left untouched.
DropReason answer_echo_request(std::span<std::uint8_t> message);

}  // namespace bm::dpdk
