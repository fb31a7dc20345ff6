// SYN cookies, RFC 4987 §3.6: when the half-open TCBs reach syn_backlog the
// listener keeps no state for a SYN; the SYN-ACK's ISN carries it instead:
//
//   bits 31..27  t mod 32, t = a counter of 64-second periods
//   bits 26..24  index of the MSS (table below) the client may use
//   bits 23..0   MAC = SipHash(secret; 4-tuple, client ISN, t, index)
//
// The client's ACK (ack = cookie + 1, seq = client ISN + 1) is checked by
// recomputing the MAC for the current and the previous period. What the
// cookie cannot carry (window scale, SACK) is not offered in a cookie
// SYN-ACK, so neither side uses it (RFC 7323 §2.2).
#pragma once

#include <cstdint>
#include <optional>

#include "tcp/engine.hpp"
#include "tcp/siphash.hpp"

namespace bm::tcp {

class SynCookies {
public:
    explicit SynCookies(SipKey secret) : secret_(secret) {}

    // The ISN for our SYN-ACK to a SYN with sequence number client_isn.
    std::uint32_t make(const FourTuple& tuple, std::uint32_t client_isn, std::uint16_t peer_mss,
                       std::uint64_t now_us) const;
    // For the handshake's final ACK: the MSS the cookie encodes, or nothing
    // if the cookie is forged or older than two periods.
    std::optional<std::uint16_t> check(const FourTuple& tuple, std::uint32_t client_isn,
                                       std::uint32_t cookie, std::uint64_t now_us) const;

    static constexpr std::uint64_t period_us = 64'000'000;

private:
    std::uint32_t mac(const FourTuple& tuple, std::uint32_t client_isn, std::uint32_t t,
                      std::uint32_t mss_index) const;

    SipKey secret_;
};

}  // namespace bm::tcp
