// Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4): "a < b" means b
// lies less than 2^31 ahead of a. Every comparison of seq/ack values in the
// engine goes through these, never through plain < on uint32_t.
#pragma once

#include <cstdint>

namespace bm::tcp {

constexpr bool seq_lt(std::uint32_t a, std::uint32_t b) { return std::int32_t(a - b) < 0; }
constexpr bool seq_le(std::uint32_t a, std::uint32_t b) { return std::int32_t(a - b) <= 0; }
constexpr bool seq_gt(std::uint32_t a, std::uint32_t b) { return std::int32_t(a - b) > 0; }
constexpr bool seq_ge(std::uint32_t a, std::uint32_t b) { return std::int32_t(a - b) >= 0; }
constexpr std::uint32_t seq_max(std::uint32_t a, std::uint32_t b) { return seq_lt(a, b) ? b : a; }
// lo <= x < hi, modulo 2^32.
constexpr bool seq_in(std::uint32_t x, std::uint32_t lo, std::uint32_t hi) {
    return seq_le(lo, x) && seq_lt(x, hi);
}

}  // namespace bm::tcp
