// Segment arrival, RFC 9293 §3.10.7 ("SEGMENT ARRIVES"), followed step by
// step: §3.10.7.1 CLOSED (no TCB, no listener), §3.10.7.2 LISTEN (a
// listener port, no TCB), §3.10.7.3 SYN-SENT (after Engine::connect, see
// active_open.cpp), §3.10.7.4 "Otherwise" with its eight numbered checks.
// Hardened per RFC 5961 (§3 RST, §4 SYN, §5 ACK range).
//
// Read first: RFC 9293 §3.10.7, RFC 5961 §3-§5, RFC 7323 §2, RFC 4987 §3.6.
//
// FIXME(options): SACK (RFC 2018) and timestamps (RFC 7323 §3-§5: RTTM,
// PAWS) are parsed by the dataplane but neither offered nor used; the
// window-scale option is. Without SACK, recovery from several losses in one
// window is NewReno's one hole per RTT.
#include <algorithm>

#include "tcp/engine_impl.hpp"
#include "tcp/seq.hpp"

namespace bm::tcp {
namespace {

// SEG.LEN counts SYN and FIN (RFC 9293 §3.4).
std::uint32_t segment_length(const SegmentIn& segment) {
    return std::uint32_t(segment.payload.size()) + ((segment.flags & SYN) ? 1 : 0) +
           ((segment.flags & FIN) ? 1 : 0);
}

// RFC 9293 §3.10.7.4 first check, the acceptability table:
//   len 0, wnd 0:  SEG.SEQ = RCV.NXT
//   len 0, wnd >0: RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
//   len >0, wnd 0: not acceptable
//   len >0, wnd >0: either end of the segment inside the window
bool acceptable(std::uint32_t seq, std::uint32_t len, std::uint32_t rcv_nxt, std::uint32_t rcv_wnd) {
    if (len == 0 && rcv_wnd == 0) return seq == rcv_nxt;
    if (len == 0) return seq_in(seq, rcv_nxt, rcv_nxt + rcv_wnd);
    if (rcv_wnd == 0) return false;
    return seq_in(seq, rcv_nxt, rcv_nxt + rcv_wnd) || seq_in(seq + len - 1, rcv_nxt, rcv_nxt + rcv_wnd);
}

// RFC 9293 §3.7.1: without the option the send MSS is 536. A peer that
// announces less (down to 1) would make us cut every reply into segments
// of a few octets: 40 octets of headers and a retransmission-queue entry
// per payload octet, the resource exhaustion of CVE-2019-11479 (SACK
// "slowness"). As Linux does since then (net.ipv4.tcp_min_snd_mss), the
// peer's value is raised to a floor instead of refusing the connection:
// RFC 1122 §3.3.2 requires every host to reassemble 576-octet datagrams,
// so segments of 536 (576 less 40 of headers) reach any conforming peer.
// The floor is --min-mss; never above our own MSS.
std::uint16_t send_mss(std::uint16_t announced, const EngineConfig& config) {
    std::uint16_t peer = announced ? announced : 536;
    return std::min(config.mss, std::max(peer, config.min_mss));
}

bool synchronized_text_state(State state) {
    return state == State::established || state == State::fin_wait_1 || state == State::fin_wait_2;
}

}  // namespace

void EngineCore::on_segment(const SegmentIn& segment) {
    ++counters.segments_in;
    // SYN with FIN or RST is no valid segment in any state (the dataplane
    // already dropped bad checksums and header lengths).
    if ((segment.flags & SYN) && (segment.flags & (FIN | RST))) {
        ++counters.dropped_bad;
        return;
    }
    if (Tcb* tcb = table.find(segment.tuple)) return segment_arrives(*tcb, segment);
    std::optional<Service> service = stopping ? std::nullopt : service_for(segment.tuple.local_port);
    if (!service) return segment_for_closed_port(segment);
    segment_for_listener(segment, *service);
}

// RFC 9293 §3.10.7.1, CLOSED: "all data in the incoming segment is
// discarded. An incoming segment containing a RST is discarded. An incoming
// segment not containing a RST causes a RST to be sent in response."
void EngineCore::segment_for_closed_port(const SegmentIn& segment) {
    ++counters.dropped_no_tcb;
    if (segment.flags & RST) return;
    if (segment.flags & ACK)
        send_reset(segment.tuple, segment.ack, 0, RST);  // <SEQ=SEG.ACK><CTL=RST>
    else  // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
        send_reset(segment.tuple, 0, segment.seq + segment_length(segment), RST | ACK);
}

// RFC 9293 §3.10.7.2, LISTEN.
void EngineCore::segment_for_listener(const SegmentIn& segment, Service service) {
    // First, check for a RST: ignore it.
    if (segment.flags & RST) {
        ++counters.dropped_no_tcb;
        return;
    }
    // Second, check for an ACK: bad in LISTEN — unless it completes a
    // handshake whose state we kept in a SYN cookie (RFC 4987 §3.6).
    if (segment.flags & ACK) {
        if (!(segment.flags & SYN) && syn_cookies_recent()) {
            if (auto mss = cookies.check(segment.tuple, segment.seq - 1, segment.ack - 1, now_us))
                return open_from_cookie(segment, service, *mss);
        }
        ++counters.dropped_no_tcb;
        return send_reset(segment.tuple, segment.ack, 0, RST);  // <SEQ=SEG.ACK><CTL=RST>
    }
    // Third, check for a SYN. (Security compartments do not apply.)
    if (segment.flags & SYN) {
        if (table.full()) reclaim_time_wait();
        if (half_open >= config.syn_backlog || table.full()) return send_cookie(segment);
        return open_passive(segment, service);
    }
    // Fourth, other text or control: drop.
    ++counters.dropped_no_tcb;
}

// LISTEN, SYN: "set RCV.NXT to SEG.SEQ+1, IRS is set to SEG.SEQ ... ISS
// should be selected and a SYN segment sent of the form
// <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>. SND.NXT is set to ISS+1 and SND.UNA
// to ISS. The connection state should be changed to SYN-RECEIVED."
// Data on the SYN is not kept (nor ACKed): the client sends it again.
void EngineCore::open_passive(const SegmentIn& segment, Service service) {
    Tcb& tcb = *table.insert(segment.tuple);
    static_cast<TcbVars&>(tcb) = TcbVars{};
    tcb.state = State::syn_received;
    tcb.service = service;
    ++half_open;
    ++open;
    tcb.irs = segment.seq;
    tcb.rcv_nxt = tcb.rcv_acked = segment.seq + 1;
    tcb.iss = isn.isn(segment.tuple, now_us);
    tcb.snd_una = tcb.iss;
    tcb.snd_nxt = tcb.snd_max = tcb.iss + 1;
    take_syn_options(tcb, segment);
    tcb.snd_wnd = tcb.max_snd_wnd = segment.window;  // a SYN's window is never scaled
    tcb.snd_wl1 = segment.seq;
    tcb.last_activity_us = now_us;
    tcb.timing = true;  // the SYN-ACK gives the first RTT sample (Karn permitting)
    tcb.timed_seq = tcb.iss;
    tcb.timed_at_us = now_us;
    transmit(tcb, tcb.iss, 0, SYN | ACK);
    tcb.retransmit_at = now_us + tcb.rto.current_us();
    arm(tcb);
}

// The peer's SYN options: RFC 9293 §3.7.1 MSS (536 without the option,
// raised to the floor, see send_mss); RFC 7323 §2.2 scale only if both
// SYNs carried the option (ours always does, in SYN-ACKs only when the
// peer's SYN did); §2.3: at most 14.
void EngineCore::take_syn_options(Tcb& tcb, const SegmentIn& segment) {
    tcb.snd_mss = send_mss(segment.options.mss, config);
    if (segment.options.window_scale >= 0) {
        tcb.window_scaling = true;
        tcb.snd_shift = std::uint8_t(std::min<int>(segment.options.window_scale, 14));
        tcb.rcv_shift = config.window_scale;
    }
    tcb.congestion.start(tcb.snd_mss, tcb.iss);
}

// RFC 9293 §3.10.7.3, SYN-SENT.
void EngineCore::segment_in_syn_sent(Tcb& tcb, const SegmentIn& segment) {
    std::uint8_t flags = segment.flags;

    // ---- first, check the ACK bit
    bool ack_acceptable = false;
    if (flags & ACK) {
        // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the
        // RST bit is set, if so drop the segment and return)
        // <SEQ=SEG.ACK><CTL=RST> and discard the segment. Return."
        if (seq_le(segment.ack, tcb.iss) || seq_gt(segment.ack, tcb.snd_nxt)) {
            ++counters.dropped_bad;
            if (!(flags & RST)) send_reset(tcb.tuple, segment.ack, 0, RST);
            return;
        }
        // "If SND.UNA < SEG.ACK =< SND.NXT, then the ACK is acceptable."
        ack_acceptable = seq_lt(tcb.snd_una, segment.ack);
    }

    // ---- second, check the RST bit
    if (flags & RST) {
        // "If the ACK was acceptable, then signal to the user 'error:
        // connection reset', drop the segment, enter CLOSED state, delete
        // TCB, and return. Otherwise (no ACK), drop the segment and return."
        // RFC 5961 §3.2's exact RCV.NXT check has no RCV.NXT to use yet:
        // the ACK of our ISS is what a blind attacker cannot know.
        if (ack_acceptable) return free_tcb(tcb, "connection refused");
        ++counters.dropped_bad;
        return;
    }

    // ---- third, check the security: no IP security compartments here.

    // ---- fourth, check the SYN bit
    if (flags & SYN) {
        if (ack_acceptable) return synchronized_from_syn_sent(tcb, segment);
        return simultaneous_open(tcb, segment);
    }

    // ---- fifth, "if neither of the SYN or RST bits is set, then drop the
    // segment and return."
    ++counters.dropped_bad;
}

// The fourth step with our SYN acknowledged: "RCV.NXT is set to SEG.SEQ+1,
// IRS is set to SEG.SEQ. SND.UNA should be advanced to equal SEG.ACK ... If
// SND.UNA > ISS (our SYN has been ACKed), change the connection state to
// ESTABLISHED, form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and
// send it. Data or controls that were queued for transmission MAY be
// included." The session's first bytes, if it speaks first, carry the ACK.
void EngineCore::synchronized_from_syn_sent(Tcb& tcb, const SegmentIn& segment) {
    take_syn_options(tcb, segment);
    tcb.irs = segment.seq;
    tcb.rcv_nxt = tcb.rcv_adv = segment.seq + 1;
    tcb.rcv_acked = tcb.irs;  // the SYN is owed its ACK
    tcb.snd_una = segment.ack;
    // As for SYN-RECEIVED -> ESTABLISHED: SND.WND <- SEG.WND (a SYN's
    // window is never scaled, RFC 7323 §2.2), SND.WL1 <- SEG.SEQ,
    // SND.WL2 <- SEG.ACK.
    tcb.snd_wnd = tcb.max_snd_wnd = segment.window;
    tcb.snd_wl1 = segment.seq;
    tcb.snd_wl2 = segment.ack;
    // RFC 6298 §3 (Karn): a sample only if the SYN went out once; (5.7)
    // otherwise data starts with an RTO of 3 s.
    if (tcb.timing && tcb.retries == 0) tcb.rto.sample(std::uint32_t(now_us - tcb.timed_at_us));
    else tcb.rto.after_syn_timeout();
    tcb.timing = false;
    tcb.retries = 0;
    tcb.retransmit_at = 0;
    tcb.last_activity_us = now_us;
    tcb.state = State::established;
    tcb.ack_now = true;
    open_session(tcb);
    // "If there are other controls or text in the segment, then continue
    // processing at the sixth step ... where the URG bit is checked": the
    // text (within our window) and a FIN right after it.
    std::span<const std::uint8_t> payload = segment.payload;
    payload = payload.first(std::min<std::size_t>(payload.size(), receive_space(tcb)));
    if (!payload.empty()) text_arrives(tcb, tcb.rcv_nxt, payload);
    if ((segment.flags & FIN) && payload.size() == segment.payload.size() &&
        tcb.rcv_nxt == segment.seq + 1 + std::uint32_t(payload.size()))
        fin_arrives(tcb);
    after_session_event(tcb);
}

// The fourth step without an ACK, a simultaneous open (§3.5 figure 8):
// "enter SYN-RECEIVED, form a SYN,ACK segment <SEQ=ISS><ACK=RCV.NXT>
// <CTL=SYN,ACK> and send it. Set the variables: SND.WND <- SEG.WND,
// SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK." Text on the SYN is not kept
// for after ESTABLISHED (the RFC queues it): the peer sends it again, as
// for a passive open.
void EngineCore::simultaneous_open(Tcb& tcb, const SegmentIn& segment) {
    take_syn_options(tcb, segment);
    tcb.irs = segment.seq;
    tcb.rcv_nxt = tcb.rcv_acked = segment.seq + 1;
    tcb.snd_wnd = tcb.max_snd_wnd = segment.window;
    tcb.snd_wl1 = segment.seq;
    tcb.snd_wl2 = segment.ack;
    tcb.state = State::syn_received;
    ++half_open;
    tcb.timing = false;  // Karn: the ACK may answer the SYN or the SYN-ACK
    tcb.last_activity_us = now_us;
    transmit(tcb, tcb.iss, 0, SYN | ACK);
    tcb.retransmit_at = now_us + tcb.rto.current_us();
    arm(tcb);
}

bool EngineCore::syn_cookies_recent() const {
    return last_cookie_us != 0 && now_us - last_cookie_us < 2 * SynCookies::period_us;
}

// The backlog is full: answer with a SYN-ACK whose ISN is the cookie and
// keep nothing (RFC 4987 §3.6). No window-scale option: the cookie cannot
// remember the peer's shift.
void EngineCore::send_cookie(const SegmentIn& segment) {
    ++counters.syn_cookies_sent;
    last_cookie_us = now_us;
    SegmentOut synack;
    synack.tuple = segment.tuple;
    synack.seq = cookies.make(segment.tuple, segment.seq, segment.options.mss, now_us);
    synack.ack = segment.seq + 1;
    synack.flags = SYN | ACK;
    synack.window = std::uint16_t(std::min<std::uint32_t>(config.receive_window, 65535));
    synack.options.mss = config.mss;
    emit(synack, {}, {});
}

// The table is full of live connections (refused ones never hold a slot
// past TIME-WAIT, which is reclaimed first): the completed handshake gets
// the --max-conn refusal line and FIN from no TCB at all, as statelessly as
// the cookie that let it in — a client learns the server is busy instead of
// seeing a bare reset. Its ACK of our FIN then meets no TCB and draws a RST,
// after the line has arrived.
void EngineCore::refuse_without_tcb(const SegmentIn& segment, Service service) {
    std::string_view line = config.services->busy_line(service);
    SegmentOut refusal;
    refusal.tuple = segment.tuple;
    refusal.seq = segment.ack;  // ISS + 1: the cookie's
    refusal.ack = segment.seq;  // any text on the ACK is not taken
    refusal.flags = ACK | PSH | FIN;
    refusal.window = 0;
    emit(refusal, {reinterpret_cast<const std::uint8_t*>(line.data()), line.size()}, {});
}

// A valid cookie: build the TCB the SYN would have created, in
// SYN-RECEIVED, and let the ACK complete the handshake as usual.
void EngineCore::open_from_cookie(const SegmentIn& segment, Service service, std::uint16_t mss) {
    if (table.full()) reclaim_time_wait();
    Tcb* slot = table.insert(segment.tuple);
    if (!slot) {
        ++counters.dropped_no_room;
        return refuse_without_tcb(segment, service);
    }
    ++counters.syn_cookies_accepted;
    Tcb& tcb = *slot;
    static_cast<TcbVars&>(tcb) = TcbVars{};
    tcb.state = State::syn_received;
    tcb.service = service;
    ++half_open;
    ++open;
    tcb.irs = segment.seq - 1;
    tcb.rcv_nxt = tcb.rcv_acked = segment.seq;
    tcb.rcv_adv = tcb.rcv_nxt + std::min<std::uint32_t>(config.receive_window, 65535);
    tcb.iss = segment.ack - 1;
    tcb.snd_una = tcb.iss;
    tcb.snd_nxt = tcb.snd_max = tcb.iss + 1;
    tcb.snd_mss = send_mss(mss, config);  // the cookie's table starts at 536
    tcb.congestion.start(tcb.snd_mss, tcb.iss);
    tcb.last_activity_us = now_us;
    segment_arrives(tcb, segment);
}

// RFC 9293 §3.10.7.4, "Otherwise": SYN-RECEIVED and the synchronized states.
void EngineCore::segment_arrives(Tcb& tcb, const SegmentIn& segment) {
    if (tcb.state == State::syn_sent) return segment_in_syn_sent(tcb, segment);
    // Simultaneous open: the peer's SYN,ACK repeats its SYN at IRS (§3.5
    // figure 8, line 6); its ACK is what completes our side, so take it
    // as the ACK of the segment after the SYN.
    if (tcb.state == State::syn_received && tcb.active_open && (segment.flags & SYN) && (segment.flags & ACK) &&
        segment.seq == tcb.irs) {
        SegmentIn rest = segment;
        rest.flags = std::uint8_t(rest.flags & ~SYN);
        rest.seq += 1;
        return segment_arrives(tcb, rest);
    }
    std::uint8_t flags = segment.flags;
    std::span<const std::uint8_t> payload = segment.payload;

    // A second copy of the SYN in SYN-RECEIVED means our SYN-ACK was lost;
    // by the table below it would only earn a bare ACK, which a client in
    // SYN-SENT cannot use. Send the SYN-ACK again (as Linux does).
    if (tcb.state == State::syn_received && (flags & SYN) && !(flags & ACK) && segment.seq == tcb.irs) {
        ++counters.retransmits;
        tcb.timing = false;
        return transmit(tcb, tcb.iss, 0, SYN | ACK);
    }

    // RFC 1122 §4.2.2.13: a new SYN for a 4-tuple in TIME-WAIT may re-open
    // it if its sequence number is above the old connection's — clients
    // reuse ports faster than 2*MSL, and the server closed first.
    if (tcb.state == State::time_wait && (flags & SYN) && !(flags & ACK) && seq_gt(segment.seq, tcb.rcv_nxt)) {
        free_tcb(tcb);
        std::optional<Service> service = stopping ? std::nullopt : service_for(segment.tuple.local_port);
        if (!service) return segment_for_closed_port(segment);
        return segment_for_listener(segment, *service);
    }

    // ---- first, check sequence number
    std::uint32_t rcv_wnd = seq_gt(tcb.rcv_adv, tcb.rcv_nxt) ? tcb.rcv_adv - tcb.rcv_nxt : 0;
    std::uint32_t len = segment_length(segment);
    bool zero_window_allowance = false;
    if (!acceptable(segment.seq, len, tcb.rcv_nxt, rcv_wnd)) {
        // "If the RCV.WND is zero, no segments will be acceptable, but
        // special allowance should be made to accept valid ACKs, URGs, and
        // RSTs": keep the header of a segment at RCV.NXT, drop its text.
        if (rcv_wnd == 0 && segment.seq == tcb.rcv_nxt) {
            zero_window_allowance = true;
        } else {
            ++counters.dropped_out_of_window;
            if (flags & RST) return;  // RFC 5961 §3.2: out of window, silently dropped
            // "<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>" — in TIME-WAIT this
            // answers a retransmitted FIN, which restarts the 2*MSL wait.
            if (tcb.state == State::time_wait && (flags & FIN))
                tcb.linger_at = now_us + std::uint64_t(config.time_wait_ms) * 1000;
            transmit(tcb, tcb.snd_nxt, 0, ACK);
            return arm(tcb);
        }
    }
    // An acceptable segment does not restart the idle timer by itself:
    // only a completed line (feed) or new data ACKed does.
    // Trim to the window: text before RCV.NXT was had already, text beyond
    // the right edge is not taken (and a FIN after it is not in order).
    std::uint32_t data_seq = segment.seq + ((flags & SYN) ? 1 : 0);
    if (zero_window_allowance) {
        payload = {};
        flags &= std::uint8_t(~FIN);
        tcb.ack_now = true;  // tell the peer the window is still zero
    }
    if (seq_lt(data_seq, tcb.rcv_nxt)) {
        std::uint32_t old = std::min<std::uint32_t>(tcb.rcv_nxt - data_seq, std::uint32_t(payload.size()));
        payload = payload.subspan(old);
        data_seq += old;
    }
    std::uint32_t right = tcb.rcv_nxt + rcv_wnd;
    if (seq_gt(data_seq + std::uint32_t(payload.size()), right)) {
        std::uint32_t keep = seq_lt(data_seq, right) ? right - data_seq : 0;
        payload = payload.first(keep);
        flags &= std::uint8_t(~FIN);
    }

    // ---- second, check the RST bit (RFC 5961 §3.2)
    if (flags & RST) {
        if (segment.seq != tcb.rcv_nxt) return send_challenge_ack(tcb);  // in window, not exact
        // Exactly RCV.NXT: reset. SYN-RECEIVED from a passive open goes
        // back to LISTEN, i.e. the TCB is forgotten; from an active open
        // "the connection was refused; signal the user 'connection
        // refused'"; in every other state the connection is closed and its
        // session told.
        release_session(tcb, "reset");
        return free_tcb(tcb, tcb.state == State::syn_received ? "connection refused" : "reset");
    }

    // ---- third, check security: no IP security compartments here.

    // ---- fourth, check the SYN bit
    if (flags & SYN) {
        // SYN-RECEIVED after a passive OPEN: "return this connection to the
        // LISTEN state". After an active one, and in the synchronized
        // states: RFC 5961 §4.2 challenge ACK, whatever the sequence
        // number — a blind SYN cannot reset us.
        if (tcb.state == State::syn_received && !tcb.active_open) return free_tcb(tcb);
        return send_challenge_ack(tcb);
    }

    // ---- fifth, check the ACK field: "if the ACK bit is off, drop the segment"
    if (!(flags & ACK)) return arm(tcb);
    if (!acknowledgment_arrives(tcb, segment, payload.size())) return;

    // ---- sixth, check the URG bit: ignored. The apps have no urgent data
    // and RFC 6093 §4 advises new applications not to use it.

    // ---- seventh, process the segment text
    if (!payload.empty() && synchronized_text_state(tcb.state)) {
        text_arrives(tcb, data_seq, payload);
        if (ack_unanswered_text(tcb, flags)) tcb.ack_now = true;
    }

    // ---- eighth, check the FIN bit: only once every byte before it is in
    if ((flags & FIN) && data_seq + std::uint32_t(payload.size()) == tcb.rcv_nxt && !tcb.peer_fin) fin_arrives(tcb);

    after_session_event(tcb);
}

// The fifth step. Returns false when the segment is finished with (dropped,
// or the TCB is gone).
bool EngineCore::acknowledgment_arrives(Tcb& tcb, const SegmentIn& segment, std::size_t payload_len) {
    std::uint32_t ack = segment.ack;
    if (tcb.state == State::syn_received) {
        // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state ...
        // SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK. If the
        // segment acknowledgment is not acceptable, form a reset segment
        // <SEQ=SEG.ACK><CTL=RST> and send it."
        if (!(seq_lt(tcb.snd_una, ack) && seq_le(ack, tcb.snd_max))) {
            send_reset(tcb.tuple, ack, 0, RST);
            arm(tcb);
            return false;
        }
        --half_open;
        tcb.state = State::established;
        tcb.snd_una = ack;
        tcb.snd_wnd = tcb.max_snd_wnd = std::uint32_t(segment.window) << tcb.snd_shift;
        tcb.snd_wl1 = segment.seq;
        tcb.snd_wl2 = ack;
        tcb.retries = 0;
        if (tcb.timing) tcb.rto.sample(std::uint32_t(now_us - tcb.timed_at_us));
        tcb.timing = false;
        tcb.retransmit_at = 0;
        open_session(tcb);
    }

    // RFC 5961 §5.2: acceptable only if
    // (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT; otherwise send an ACK
    // and drop. (SND.NXT here is the highest ever sent, snd_max.)
    if (!(seq_le(tcb.snd_una - tcb.max_snd_wnd, ack) && seq_le(ack, tcb.snd_max))) {
        ++counters.dropped_out_of_window;
        send_challenge_ack(tcb);
        arm(tcb);
        return false;
    }

    std::uint32_t window = std::uint32_t(segment.window) << tcb.snd_shift;
    // RFC 5681 §2: a duplicate ACK acknowledges nothing new, carries no
    // data, no SYN/FIN, the same window, while data is outstanding.
    bool duplicate = ack == tcb.snd_una && payload_len == 0 && !(segment.flags & (SYN | FIN)) &&
                     window == tcb.snd_wnd && tcb.snd_wnd > 0 && tcb.snd_max != tcb.snd_una;
    if (seq_gt(ack, tcb.snd_una)) {
        new_acknowledgment(tcb, ack);
    } else if (duplicate) {
        std::uint32_t flight = tcb.snd_max - tcb.snd_una;
        if (tcb.congestion.on_duplicate_ack(ack, flight, tcb.snd_max, tcb.snd_mss) == NewReno::Action::retransmit)
            retransmit_first(tcb);
    }
    // "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated.
    // If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK))"
    // — so an old segment cannot shrink it.
    if (seq_ge(ack, tcb.snd_una) &&
        (seq_lt(tcb.snd_wl1, segment.seq) || (tcb.snd_wl1 == segment.seq && seq_le(tcb.snd_wl2, ack)))) {
        tcb.snd_wnd = window;
        tcb.snd_wl1 = segment.seq;
        tcb.snd_wl2 = ack;
        tcb.max_snd_wnd = std::max(tcb.max_snd_wnd, window);
    }

    bool fin_acked = tcb.fin_sent && seq_gt(tcb.snd_una, tcb.fin_seq);
    switch (tcb.state) {
    case State::fin_wait_1:
        // "if the FIN segment is now acknowledged, then enter FIN-WAIT-2".
        // Our side is done: the session ends; wait for the peer's FIN, but
        // not forever.
        if (fin_acked) {
            tcb.state = State::fin_wait_2;
            release_session(tcb, "closed");
            tcb.retransmit_at = 0;
            tcb.linger_at = now_us + std::uint64_t(config.time_wait_ms) * 1000;
        }
        break;
    case State::closing:
        // "if the ACK acknowledges our FIN, then enter the TIME-WAIT state"
        if (fin_acked) to_time_wait(tcb);
        break;
    case State::last_ack:
        // "If our FIN is now acknowledged, delete the TCB ... and return."
        if (fin_acked) {
            free_tcb(tcb);
            return false;
        }
        break;
    default: break;
    }
    return true;
}

// SND.UNA advances: free what was acknowledged, take an RTT sample (RFC
// 6298 §3, Karn), grow cwnd or continue NewReno recovery, and restart or
// stop the retransmission timer (RFC 6298 (5.2), (5.3)).
void EngineCore::new_acknowledgment(Tcb& tcb, std::uint32_t ack) {
    std::uint32_t acked = ack - tcb.snd_una;
    std::size_t data = std::min<std::size_t>(acked, tcb.send_queue.size());
    bool was_full = tcb.send_queue.size() > send_ring_limit / 2;
    tcb.send_queue.acknowledge(pool, data);
    if (was_full && tcb.send_queue.size() <= send_ring_limit / 2) tcb.writable_due = true;
    tcb.snd_una = ack;
    if (seq_lt(tcb.snd_nxt, tcb.snd_una)) tcb.snd_nxt = tcb.snd_una;
    // The peer takes what we send: not idle, and the send timeout restarts.
    tcb.last_activity_us = now_us;
    tcb.send_waiting_since_us = tcb.send_queue.empty() ? 0 : now_us;
    tcb.retries = 0;
    tcb.persist_backoff = 0;
    if (tcb.timing && seq_gt(ack, tcb.timed_seq)) {
        tcb.rto.sample(std::uint32_t(now_us - tcb.timed_at_us));
        tcb.timing = false;
    }
    std::uint32_t flight = tcb.snd_max - tcb.snd_una;
    if (tcb.congestion.on_new_ack(ack, acked, flight, tcb.snd_mss) == NewReno::Action::retransmit)
        retransmit_first(tcb);
    restart_retransmit_timer(tcb);
}

// The seventh step. In order: straight to the machine (or held for it),
// then whatever kept out-of-order data now follows. Beyond RCV.NXT: kept,
// and ACKed at once so the sender learns of the hole (RFC 5681 §4.2).
void EngineCore::text_arrives(Tcb& tcb, std::uint32_t seq, std::span<const std::uint8_t> payload) {
    if (seq != tcb.rcv_nxt) {
        if (!tcb.out_of_order.insert(pool, seq, payload)) ++counters.dropped_no_room;
        tcb.ack_now = true;
        return;
    }
    tcb.rcv_nxt += std::uint32_t(offer_text(tcb, payload));
    if (!tcb.out_of_order.empty()) {
        tcb.rcv_nxt = tcb.out_of_order.advance(
            pool, tcb.rcv_nxt, [&](std::span<const std::uint8_t> bytes) { return offer_text(tcb, bytes); });
        tcb.ack_now = true;  // RFC 5681 §4.2: ACK at once when a gap fills
    }
    // RFC 1122 §4.2.3.2: "an ACK should be generated for at least every
    // second full-sized segment".
    if (tcb.rcv_nxt - tcb.rcv_acked >= 2u * config.mss) tcb.ack_now = true;
}

// Text the machine answers with no reply (a DATA body) is ACKed at once if
// the segment was pushed — the sender has nothing more to send now, and a
// Nagle sender (RFC 9293 §3.7.4) holds its next small piece until this ACK —
// or if it leaves the peer less than half the window last offered, so the
// sender is not stalled (RFC 9293 §3.8.6.3; RFC 1122 §4.2.3.2 lets an ACK
// go early, never late). Elsewhere the ACK waits to be piggybacked on the reply.
bool EngineCore::ack_unanswered_text(Tcb& tcb, std::uint8_t flags) {
    if (!tcb.hosted.open() || tcb.app_closed || tcb.session().reply_due()) return false;
    if (flags & PSH) return true;
    std::uint32_t offered = tcb.rcv_adv - tcb.rcv_acked;
    std::uint32_t used = tcb.rcv_nxt - tcb.rcv_acked;
    return 2 * std::uint64_t(used) > offered;
}

// The eighth step: "advance RCV.NXT over the FIN ... and return an
// acknowledgment for the FIN".
void EngineCore::fin_arrives(Tcb& tcb) {
    tcb.rcv_nxt += 1;
    tcb.peer_fin = true;
    tcb.ack_now = true;
    switch (tcb.state) {
    case State::established:
        tcb.state = State::close_wait;
        check_peer_closed(tcb);
        break;
    case State::fin_wait_1:
        tcb.state = State::closing;  // our FIN is not yet acknowledged
        break;
    case State::fin_wait_2:
        to_time_wait(tcb);
        break;
    default: break;
    }
}

}  // namespace bm::tcp
