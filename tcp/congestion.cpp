#include "tcp/congestion.hpp"

#include <algorithm>

#include "tcp/seq.hpp"

namespace bm::tcp {

void NewReno::start(std::uint32_t mss, std::uint32_t iss) {
    cwnd_ = std::min(10 * mss, std::max(2 * mss, 14600u));
    ssthresh_ = 0xffffffffu;
    recover_ = iss;
    duplicate_acks_ = 0;
    in_recovery_ = false;
}

NewReno::Action NewReno::on_new_ack(std::uint32_t ack, std::uint32_t acked, std::uint32_t flight,
                                    std::uint32_t mss) {
    duplicate_acks_ = 0;
    if (in_recovery_) {
        if (seq_ge(ack, recover_)) {
            // RFC 6582 §3.2 (3) full acknowledgment: deflate to
            // min(ssthresh, max(FlightSize, SMSS) + SMSS) and leave recovery.
            cwnd_ = std::min(ssthresh_, std::max(flight, mss) + mss);
            in_recovery_ = false;
            return Action::none;
        }
        // (3) partial acknowledgment: retransmit the next hole, deflate by
        // what was acknowledged, add back one SMSS if at least that much.
        cwnd_ = cwnd_ > acked ? cwnd_ - acked : mss;
        if (acked >= mss) cwnd_ += mss;
        return Action::retransmit;
    }
    if (cwnd_ < ssthresh_)
        cwnd_ += std::min(acked, mss);  // RFC 5681 (2), byte counting per RFC 3465 L=1
    else
        cwnd_ += std::max(1u, mss * mss / cwnd_);  // RFC 5681 (3)
    return Action::none;
}

NewReno::Action NewReno::on_duplicate_ack(std::uint32_t ack, std::uint32_t flight, std::uint32_t snd_max,
                                          std::uint32_t mss) {
    if (in_recovery_) {
        cwnd_ += mss;  // RFC 5681 §3.2 (4): inflate for each segment that left the network
        return Action::none;
    }
    if (++duplicate_acks_ != 3) return Action::none;
    // RFC 6582 §3.2 (1): only if the ACK covers more than `recover`, so a
    // second loss in the same window does not halve cwnd twice.
    if (!seq_gt(ack, recover_)) return Action::none;
    ssthresh_ = std::max(flight / 2, 2 * mss);  // RFC 5681 (4)
    recover_ = snd_max;
    cwnd_ = ssthresh_ + 3 * mss;  // (3) inflate by the three segments that left
    in_recovery_ = true;
    return Action::retransmit;
}

void NewReno::on_timeout(std::uint32_t flight, std::uint32_t snd_max, std::uint32_t mss) {
    ssthresh_ = std::max(flight / 2, 2 * mss);
    cwnd_ = mss;
    recover_ = snd_max;  // RFC 6582 §3.2 (4)
    duplicate_acks_ = 0;
    in_recovery_ = false;
}

}  // namespace bm::tcp
