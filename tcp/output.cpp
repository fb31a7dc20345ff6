// Segment output. `transmit` is the one function that builds a TCB's
// segments; `output` decides what is due after every event: new data
// within min(cwnd, SND.WND) carrying the ACK for what was received (the
// machine's reply piggybacks the ACK), a FIN once the send
// queue has drained, and only if none of that goes out, a pure ACK — at
// once when owed now, else after the delayed-ACK time (RFC 1122 §4.2.3.2).
#include <algorithm>

#include "tcp/engine_impl.hpp"
#include "tcp/seq.hpp"

namespace bm::tcp {

// Free receive space: the window less what the machine has not taken.
std::uint32_t EngineCore::receive_space(const Tcb& tcb) const {
    std::size_t held = tcb.held.size();
    return held >= config.receive_window ? 0 : std::uint32_t(config.receive_window - held);
}

// The window field for the next segment, RCV.ADV updated to match. RFC 9293
// §3.8.6.2.2 receiver SWS avoidance: the right edge moves only by at least
// min(RCV.BUFF/2, MSS); and it never moves left (§3.8.6: shrinking the
// window is strongly discouraged), even through the RFC 7323 rounding.
std::uint16_t EngineCore::window_field(Tcb& tcb) {
    std::uint32_t right = tcb.rcv_nxt + receive_space(tcb);
    std::uint32_t step = std::min<std::uint32_t>(config.receive_window / 2, config.mss);
    if (seq_lt(right, tcb.rcv_adv) || right - tcb.rcv_adv < step) right = tcb.rcv_adv;
    std::uint32_t window = right - tcb.rcv_nxt;
    std::uint32_t field = window >> tcb.rcv_shift;
    if (seq_lt(tcb.rcv_nxt + (field << tcb.rcv_shift), tcb.rcv_adv)) ++field;  // scaling must not shrink it
    field = std::min<std::uint32_t>(field, 65535);
    tcb.rcv_adv = tcb.rcv_nxt + (field << tcb.rcv_shift);
    return std::uint16_t(field);
}

void EngineCore::emit(const SegmentOut& segment, std::span<const std::uint8_t> a,
                        std::span<const std::uint8_t> b) {
    ++counters.segments_out;
    if (segment.flags & RST) ++counters.resets_out;
    else if (segment.flags == ACK && a.empty() && b.empty()) ++counters.pure_acks_out;
    out.emit(segment, a, b);
}

// The one function that builds a TCB's segment: header from the TCB, the
// payload [seq, seq + len) cut from the send queue (seq is relative to
// SND.UNA, which is where the queue starts), the current window, and the
// ACK — which always carries RCV.NXT, so whatever leaves settles what is owed.
void EngineCore::transmit(Tcb& tcb, std::uint32_t seq, std::size_t len, std::uint8_t flags) {
    SegmentOut segment;
    segment.tuple = tcb.tuple;
    segment.seq = seq;
    segment.flags = flags;
    std::span<const std::uint8_t> a, b;
    if (len > 0) tcb.send_queue.peek(pool, std::uint32_t(seq - tcb.snd_una), len, a, b);
    if (flags & SYN) {
        // RFC 9293 §3.7.1 MSS; RFC 7323 §2.2: window scale only if the SYN
        // carried it, and the window of a SYN-ACK is never scaled.
        // Our own SYN (SYN-SENT) always offers it: the peer decides.
        segment.options.mss = config.mss;
        bool syn_sent = tcb.state == State::syn_sent;
        std::uint8_t shift = syn_sent ? config.window_scale : tcb.rcv_shift;
        if (tcb.window_scaling || syn_sent) segment.options.window_scale = std::int8_t(shift);
        std::uint32_t window = std::min<std::uint32_t>(receive_space(tcb), 65535);
        // A multiple of the scale unit, so later (scaled) windows can keep
        // this right edge exactly.
        window &= ~((1u << shift) - 1);
        segment.window = std::uint16_t(window);
        tcb.rcv_adv = tcb.rcv_nxt + window;
    } else if (!(flags & RST)) {
        segment.window = window_field(tcb);
    }
    if (flags & ACK) {
        segment.ack = tcb.rcv_nxt;
        tcb.rcv_acked = tcb.rcv_nxt;
        tcb.delayed_ack_at = 0;  // whatever ACK leaves settles what was owed
        tcb.ack_now = false;
    }
    emit(segment, a, b);
}

// What is due now, in one pass; see the file comment.
void EngineCore::output(Tcb& tcb) {
    switch (tcb.state) {
    case State::established:
    case State::fin_wait_1:
    case State::fin_wait_2:
    case State::close_wait:
    case State::closing:
    case State::last_ack:
    case State::time_wait: break;
    default: arm(tcb); return;
    }
    bool sent = false;
    for (;;) {
        std::uint32_t offset = tcb.snd_nxt - tcb.snd_una;  // where unsent data starts in the queue
        std::size_t queued = tcb.send_queue.size();
        std::size_t unsent = offset < queued ? queued - offset : 0;
        std::uint32_t window = std::min(tcb.congestion.cwnd(), tcb.snd_wnd);
        std::uint32_t in_flight = offset;
        std::size_t usable = window > in_flight ? window - in_flight : 0;
        std::size_t len = std::min({unsent, usable, std::size_t(tcb.snd_mss)});
        // The FIN follows the last queued byte (RFC 9293 §3.10.4 CLOSE:
        // "queue this until all preceding SENDs have been segmentized").
        // Once sent, the FIN keeps its sequence number; after an RTO it is
        // sent again when SND.NXT comes back to it.
        bool fin = tcb.fin_queued && offset + len == queued &&
                   (!tcb.fin_sent || (tcb.snd_nxt + len == tcb.fin_seq && seq_le(tcb.snd_una, tcb.fin_seq)));
        if (len == 0 && !fin) break;
        // RFC 9293 §3.8.6.2.1 sender SWS avoidance: no small segment while
        // more is waiting and something is in flight to clock out the next.
        if (len < tcb.snd_mss && len < unsent && in_flight > 0) break;
        std::uint8_t flags = ACK;
        if (len > 0 && offset + len == queued) flags |= PSH;
        if (fin) flags |= FIN;
        bool retransmission = seq_lt(tcb.snd_nxt, tcb.snd_max);
        if (retransmission) ++counters.retransmits;
        transmit(tcb, tcb.snd_nxt, len, flags);
        sent = true;
        // RFC 6298 §3 (Karn): time only segments sent for the first time.
        if (!tcb.timing && !retransmission && len > 0) {
            tcb.timing = true;
            tcb.timed_seq = tcb.snd_nxt;
            tcb.timed_at_us = now_us;
        }
        tcb.snd_nxt += std::uint32_t(len) + (fin ? 1 : 0);
        tcb.snd_max = seq_max(tcb.snd_max, tcb.snd_nxt);
        // RFC 6298 (5.1): start the timer if it is not running.
        if (tcb.retransmit_at == 0) tcb.retransmit_at = now_us + tcb.rto.current_us();
        if (fin) {
            tcb.fin_sent = true;
            tcb.fin_seq = tcb.snd_nxt - 1;
            if (tcb.state == State::established) tcb.state = State::fin_wait_1;
            else if (tcb.state == State::close_wait) tcb.state = State::last_ack;
            break;
        }
    }
    if (!sent && tcb.rcv_acked != tcb.rcv_nxt) {
        if (tcb.ack_now)
            transmit(tcb, tcb.snd_nxt, 0, ACK);
        else if (tcb.delayed_ack_at == 0)
            tcb.delayed_ack_at = now_us + std::uint64_t(config.delayed_ack_ms) * 1000;
    } else if (!sent && tcb.ack_now) {
        transmit(tcb, tcb.snd_nxt, 0, ACK);  // a window update that matters
    }
    tcb.ack_now = false;
    // RFC 9293 §3.8.6.1: data waits behind a zero window — probe it.
    bool waiting_on_window = tcb.snd_wnd == 0 && tcb.snd_nxt == tcb.snd_una &&
                             (tcb.send_queue.size() > 0 || tcb.fin_queued);
    if (waiting_on_window && tcb.send_queue.size() > 0) {
        if (tcb.persist_at == 0) tcb.persist_at = now_us + tcb.rto.current_us();
    } else {
        tcb.persist_at = 0;
        tcb.persist_backoff = 0;
    }
    arm(tcb);
}

// Fast retransmit and NewReno partial ACKs (RFC 5681 §3.2, RFC 6582 §3.2):
// the first unacknowledged segment, without moving SND.NXT.
void EngineCore::retransmit_first(Tcb& tcb) {
    std::uint32_t outstanding = tcb.snd_max - tcb.snd_una;
    std::size_t len = std::min({std::size_t(outstanding), tcb.send_queue.size(), std::size_t(tcb.snd_mss)});
    std::uint8_t flags = ACK;
    if (len == 0 && tcb.fin_sent && tcb.snd_una == tcb.fin_seq) flags |= FIN;
    if (len == 0 && !(flags & FIN)) return;
    ++counters.retransmits;
    tcb.timing = false;  // Karn
    transmit(tcb, tcb.snd_una, len, flags);
}

// RFC 5961 §3.2, §4.2, §5.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, limited
// per §7 so an attacker cannot make us amplify (see challenge_ack_limit).
void EngineCore::send_challenge_ack(Tcb& tcb) {
    std::uint32_t second = std::uint32_t(now_us / 1'000'000);
    if (second != tcb.challenge_second) {
        tcb.challenge_second = second;
        tcb.challenge_acks = 0;
    }
    if (tcb.challenge_acks >= challenge_ack_limit) return;
    ++tcb.challenge_acks;
    ++counters.challenge_acks;
    transmit(tcb, tcb.snd_nxt, 0, ACK);
}

// A reset that needs no TCB (RFC 9293 §3.10.7.1 and the LISTEN rules).
void EngineCore::send_reset(const FourTuple& tuple, std::uint32_t seq, std::uint32_t ack, std::uint8_t flags) {
    SegmentOut segment;
    segment.tuple = tuple;
    segment.seq = seq;
    segment.ack = ack;
    segment.flags = flags;
    emit(segment, {}, {});
}

}  // namespace bm::tcp
