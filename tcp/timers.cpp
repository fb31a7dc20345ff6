// Timer handling. Each TCB has one wheel entry at its earliest deadline
// (see timer_wheel.hpp); when it fires, every deadline is checked against
// now and the entry is re-armed for the next one.
#include <algorithm>

#include "tcp/engine_impl.hpp"
#include "tcp/seq.hpp"

namespace bm::tcp {
namespace {

constexpr std::uint8_t syn_ack_retries = 5;     // like Linux tcp_synack_retries
constexpr std::uint8_t data_retries = 15;       // like Linux tcp_retries2 (RFC 1122 §4.2.3.5 R2)
constexpr std::uint64_t persist_max_us = 60'000'000;

// States where a silent peer is ended by the idle timeout (the linger
// timer covers FIN-WAIT-2 and TIME-WAIT; SYN-RECEIVED has its retries).
bool idle_applies(State state) {
    switch (state) {
    case State::established:
    case State::fin_wait_1:
    case State::close_wait:
    case State::closing:
    case State::last_ack: return true;
    default: return false;
    }
}

}  // namespace

std::uint64_t EngineCore::send_timeout_us() const { return std::uint64_t(config.send_timeout_s) * 1'000'000u; }

std::uint32_t EngineCore::idle_timeout_us(const Tcb& tcb) const {
    if (tcb.active_open) return config.client_idle_timeout_s * 1'000'000u;
    return config.idle_timeout_s[std::size_t(tcb.service)] * 1'000'000u;
}

void EngineCore::arm(Tcb& tcb) {
    if (tcb.state == State::closed) return wheel.cancel(tcb.slot);
    std::uint64_t due = 0;
    auto consider = [&due](std::uint64_t at) {
        if (at != 0 && (due == 0 || at < due)) due = at;
    };
    consider(tcb.retransmit_at);
    consider(tcb.persist_at);
    consider(tcb.delayed_ack_at);
    consider(tcb.wake_at);
    consider(tcb.linger_at);
    if (idle_applies(tcb.state)) consider(tcb.last_activity_us + idle_timeout_us(tcb));
    if (tcb.send_waiting_since_us != 0) consider(tcb.send_waiting_since_us + send_timeout_us());
    if (due == 0) return wheel.cancel(tcb.slot);
    wheel.schedule(tcb.slot, due);
}

// The peer has ACKed none of what is queued for --send-timeout (its window
// stayed shut, or it stopped answering): reset rather than close, as a FIN
// would wait behind the bytes it does not take. Linux would probe a zero
// window for ever; nginx's reset_timedout_connection does the same.
bool EngineCore::send_timed_out(const Tcb& tcb) const {
    return tcb.send_waiting_since_us != 0 && !tcb.send_queue.empty() &&
           tcb.send_waiting_since_us + send_timeout_us() <= now_us;
}

void EngineCore::restart_retransmit_timer(Tcb& tcb) {
    // RFC 6298 (5.2) all data acknowledged: stop; (5.3) else restart.
    tcb.retransmit_at = tcb.snd_una == tcb.snd_max ? 0 : now_us + tcb.rto.current_us();
}

void EngineCore::on_tcb_timer(Tcb& tcb) {
    auto due = [this](std::uint64_t& at) {
        if (at == 0 || at > now_us) return false;
        at = 0;
        return true;
    };
    if (due(tcb.retransmit_at)) {
        on_retransmit_timeout(tcb);
        if (tcb.state == State::closed) return;
    }
    if (due(tcb.persist_at)) on_persist_timeout(tcb);
    if (due(tcb.delayed_ack_at) && tcb.rcv_acked != tcb.rcv_nxt) {
        // RFC 1122 §4.2.3.2: no reply came within the delayed-ACK time.
        transmit(tcb, tcb.snd_nxt, 0, ACK);
    }
    if (due(tcb.wake_at) && tcb.hosted.open()) {
        tcb.session().on_wakeup();
        after_session_event(tcb);
    }
    if (send_timed_out(tcb)) {
        tcb.on_event("timeout", "send");
        return abort(tcb, "send timeout");
    }
    if (due(tcb.linger_at)) {
        // TIME-WAIT's 2*MSL is over (RFC 9293 §3.10.7.4), or a FIN-WAIT-2
        // peer never sent its FIN (RFC 9293 §3.6 leaves this to us; Linux
        // tcp_fin_timeout does the same).
        return free_tcb(tcb);
    }
    if (idle_applies(tcb.state) && tcb.last_activity_us + idle_timeout_us(tcb) <= now_us) {
        on_idle(tcb);
        if (tcb.state == State::closed) return;
    }
    arm(tcb);
}

void EngineCore::on_retransmit_timeout(Tcb& tcb) {
    if (tcb.state == State::syn_sent) {
        // RFC 6298 (5.5) back off, (5.6) restart; RFC 1122 §4.2.3.5: a SYN
        // is retransmitted until R2 for SYNs, then the open is given up.
        // No RST: the peer never answered, it holds nothing to reset.
        if (++tcb.retries > config.syn_retries) return free_tcb(tcb, "connection timed out");
        tcb.rto.back_off();
        tcb.timing = false;  // Karn: the SYN-ACK may answer either SYN
        ++counters.retransmits;
        transmit(tcb, tcb.iss, 0, SYN);
        tcb.retransmit_at = now_us + tcb.rto.current_us();
        return;
    }
    if (tcb.state == State::syn_received) {
        if (++tcb.retries > syn_ack_retries) return free_tcb(tcb, "connection timed out");
        tcb.rto.back_off();
        tcb.timing = false;  // Karn: the ACK may answer either SYN-ACK
        ++counters.retransmits;
        transmit(tcb, tcb.iss, 0, SYN | ACK);
        tcb.retransmit_at = now_us + tcb.rto.current_us();
        return;
    }
    if (tcb.snd_una == tcb.snd_max) return;  // nothing outstanding
    // RFC 1122 §4.2.3.5: after R2 retransmissions, give the connection up.
    if (++tcb.retries > data_retries) return abort(tcb, "timeout");
    tcb.congestion.on_timeout(tcb.snd_max - tcb.snd_una, tcb.snd_max, tcb.snd_mss);
    tcb.rto.back_off();    // RFC 6298 (5.5)
    tcb.timing = false;    // Karn: the timed segment may be the one resent
    tcb.snd_nxt = tcb.snd_una;  // resend from the first unacknowledged octet
    tcb.retransmit_at = now_us + tcb.rto.current_us();  // (5.6)
    output(tcb);  // cwnd is one segment: exactly the oldest one leaves (5.4)
}

// RFC 9293 §3.8.6.1: while the peer's window is zero, send one octet of new
// data every persist interval (backing off like the RTO); its ACK tells us
// when the window opens, even if the peer's window update was lost.
void EngineCore::on_persist_timeout(Tcb& tcb) {
    if (tcb.snd_wnd != 0 || tcb.snd_nxt != tcb.snd_una || tcb.send_queue.empty()) return output(tcb);
    transmit(tcb, tcb.snd_una, 1, ACK);
    tcb.snd_max = seq_max(tcb.snd_max, tcb.snd_una + 1);
    if (tcb.persist_backoff < 16) ++tcb.persist_backoff;
    std::uint64_t interval = std::uint64_t(tcb.rto.current_us()) << tcb.persist_backoff;
    tcb.persist_at = now_us + std::min(interval, persist_max_us);
}

// The kernel build's idle rule: a live session gets on_idle_timeout (its
// last line, then close); a connection whose session already closed but whose
// peer does not take what we owe it is reset.
void EngineCore::on_idle(Tcb& tcb) {
    if (tcb.hosted.open() && !tcb.app_closed) {
        tcb.on_event("timeout", "idle");
        tcb.last_activity_us = now_us;
        tcb.session().on_idle_timeout();
        return after_session_event(tcb);
    }
    abort(tcb, "send timeout");
}

}  // namespace bm::tcp
