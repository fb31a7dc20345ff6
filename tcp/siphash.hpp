// SipHash (Aumasson & Bernstein, 2012): a keyed PRF over short inputs. Used
// for the RFC 6528 ISN function F(), the SYN-cookie MAC (RFC 4987 §3.6) and
// the TCB table's bucket hash (so a peer cannot choose 4-tuples that collide).
// Written from the paper's description; output checked against its test vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace bm::tcp {

struct SipKey {
    std::uint64_t k0 = 0, k1 = 0;
};

// SipHash-2-4 (the paper's recommended parameters).
std::uint64_t siphash24(const SipKey& key, std::span<const std::uint8_t> data);
// SipHash-1-3: fewer rounds, for the table hash on the per-segment path.
std::uint64_t siphash13(const SipKey& key, std::span<const std::uint8_t> data);

}  // namespace bm::tcp
