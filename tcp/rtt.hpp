// The retransmission timeout, RFC 6298: SRTT/RTTVAR from samples, RTO =
// SRTT + max(G, 4*RTTVAR), exponential back-off on expiry (§5.5) undone by
// the next valid sample. Samples follow Karn's rule (§3): the caller never
// times a retransmitted segment.
//
// Deviation: RFC 6298 (2.4) rounds RTO up to 1 s; like Linux we use 200 ms,
// because our peers are mostly on LANs where a 1 s floor turns every loss
// into a second of silence. The initial RTO is the RFC's 1 s (2.1).
#pragma once

#include <algorithm>
#include <cstdint>

namespace bm::tcp {

class RetransmitTimeout {
public:
    static constexpr std::uint32_t initial_us = 1'000'000;
    static constexpr std::uint32_t min_us = 200'000;
    static constexpr std::uint32_t max_us = 60'000'000;  // (2.5): at least 60 s
    static constexpr std::uint32_t granularity_us = 1'000;  // the timer wheel's tick

    void sample(std::uint32_t rtt_us) {
        if (!measured_) {  // (2.2) first measurement
            srtt_us_ = rtt_us;
            rttvar_us_ = rtt_us / 2;
            measured_ = true;
        } else {  // (2.3) alpha = 1/8, beta = 1/4
            std::uint32_t delta = srtt_us_ > rtt_us ? srtt_us_ - rtt_us : rtt_us - srtt_us_;
            rttvar_us_ = (3 * rttvar_us_ + delta) / 4;
            srtt_us_ = (7 * srtt_us_ + rtt_us) / 8;
        }
        rto_us_ = std::clamp(srtt_us_ + std::max(granularity_us, 4 * rttvar_us_), min_us, max_us);
        backoff_ = 0;
    }
    // (5.5) double the timer after it expires.
    void back_off() {
        if (backoff_ < 16) ++backoff_;
    }
    // (5.7) the SYN's timer expired and no sample was taken: data starts
    // with an RTO of at least 3 s.
    void after_syn_timeout() {
        if (!measured_) rto_us_ = std::max(rto_us_, 3 * initial_us);
        backoff_ = 0;
    }
    std::uint32_t current_us() const {
        std::uint64_t rto = std::uint64_t(rto_us_) << backoff_;
        return std::uint32_t(std::min<std::uint64_t>(rto, max_us));
    }
    std::uint8_t backoffs() const { return backoff_; }
    std::uint32_t srtt_us() const { return srtt_us_; }

private:
    std::uint32_t srtt_us_ = 0, rttvar_us_ = 0, rto_us_ = initial_us;
    bool measured_ = false;
    std::uint8_t backoff_ = 0;
};

}  // namespace bm::tcp
