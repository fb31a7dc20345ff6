// Initial sequence numbers, RFC 6528 §3: ISN = M + F(localip, localport,
// remoteip, remoteport, secretkey), M a 4-microsecond clock, F a keyed PRF
// (SipHash-2-4 here). With fixed_isn (--fixed-isn, for pcap replay) M = 0
// and F's key is the all-zero key whatever the secret, so the ISN is a pure
// function of the 4-tuple that a workload generator can compute (the server
// draws a fresh secret at every start): a replay sees the same sequence
// numbers every run. Predictable ISNs give up RFC 6528's protection, which
// is what a replay asks for.
#pragma once

#include <array>
#include <cstdint>

#include "tcp/engine.hpp"
#include "tcp/siphash.hpp"

namespace bm::tcp {

// The 4-tuple as 12 bytes in a fixed order, the input of every keyed hash.
std::array<std::uint8_t, 12> tuple_bytes(const FourTuple& tuple);

class IsnGenerator {
public:
    IsnGenerator(SipKey secret, bool fixed) : secret_(fixed ? SipKey{} : secret), fixed_(fixed) {}
    std::uint32_t isn(const FourTuple& tuple, std::uint64_t now_us) const;

private:
    SipKey secret_;
    bool fixed_;
};

}  // namespace bm::tcp
