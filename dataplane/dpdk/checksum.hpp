// The Internet checksum (RFC 1071): one's complement sum of 16-bit words.
// Sums are kept unfolded in 64 bits so pieces (a pseudo-header, a header, a
// payload) add up; only a piece of odd length must come last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::dpdk {

inline std::uint64_t checksum_add(std::uint64_t sum, std::span<const std::uint8_t> bytes) {
    std::size_t i = 0;
    for (; i + 1 < bytes.size(); i += 2) sum += load_be16(bytes.data() + i);
    if (i < bytes.size()) sum += std::uint64_t(bytes[i]) << 8;  // pad the odd byte with zero
    return sum;
}

inline std::uint16_t checksum_fold(std::uint64_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return std::uint16_t(sum);
}

// The value to store in a checksum field (the complement of the folded sum).
inline std::uint16_t checksum_finish(std::uint64_t sum) { return std::uint16_t(~checksum_fold(sum)); }

// RFC 9293 §3.1 / RFC 768: source, destination, zero, protocol, length.
inline std::uint64_t pseudo_header_sum(std::uint32_t source, std::uint32_t destination,
                                       std::uint8_t protocol, std::uint16_t length) {
    return std::uint64_t(source >> 16) + (source & 0xffff) + (destination >> 16) + (destination & 0xffff) +
           protocol + length;
}

// A received header or datagram verifies when its sum, checksum field
// included, folds to all ones.
inline bool checksum_verifies(std::uint64_t sum) { return checksum_fold(sum) == 0xffff; }

}  // namespace bm::dpdk
