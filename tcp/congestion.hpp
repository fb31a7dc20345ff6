// Congestion control: RFC 5681 slow start and congestion avoidance, fast
// retransmit / fast recovery with the NewReno modification (RFC 6582), and
// an initial window of ten segments (RFC 6928 §2). Pure arithmetic on
// byte counts; the TCB decides what to retransmit.
#pragma once

#include <cstdint>

namespace bm::tcp {

class NewReno {
public:
    enum class Action { none, retransmit };

    // RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)).
    void start(std::uint32_t mss, std::uint32_t iss);
    // SND.UNA advanced by `acked`; `flight` is what is still outstanding.
    Action on_new_ack(std::uint32_t ack, std::uint32_t acked, std::uint32_t flight, std::uint32_t mss);
    // RFC 5681 §2 duplicate ACK; snd_max is the highest sequence sent.
    Action on_duplicate_ack(std::uint32_t ack, std::uint32_t flight, std::uint32_t snd_max, std::uint32_t mss);
    // RFC 5681 §3.1 (4): after an RTO, one segment (the loss window).
    void on_timeout(std::uint32_t flight, std::uint32_t snd_max, std::uint32_t mss);

    std::uint32_t cwnd() const { return cwnd_; }
    std::uint32_t ssthresh() const { return ssthresh_; }
    bool in_recovery() const { return in_recovery_; }
    std::uint8_t duplicate_acks() const { return duplicate_acks_; }

private:
    std::uint32_t cwnd_ = 0;
    std::uint32_t ssthresh_ = 0xffffffffu;  // RFC 5681 §3.1: arbitrarily high at first
    std::uint32_t recover_ = 0;             // RFC 6582 §3.2
    std::uint8_t duplicate_acks_ = 0;
    bool in_recovery_ = false;
};

}  // namespace bm::tcp
