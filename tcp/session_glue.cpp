// The TCB as its machine's Transport, MailPort and Observer, and the life of
// a session inside a TCB: opened when the handshake completes, offered input
// in order (held while the machine waits on the store, like the kernel
// build's offer_input), followed up after every event it sees
// (after_session_event), released when either side is done.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iterator>
#include <utility>

#include "apps/ipv4_text.hpp"
#include "tcp/engine_impl.hpp"
#include "tcp/seq.hpp"

namespace bm::tcp {
namespace {

std::string_view as_text(std::span<const std::uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

// ---- what the machine calls ------------------------------------------------

// Only queues: what is due leaves in the engine's one output pass at the end
// of the event, so a reply and the ACK of its request share a segment.
void Tcb::send(std::string_view bytes) {
    if (send_queue.empty()) send_waiting_since_us = engine->now_us;  // the send timeout's clock starts
    send_queue.write(engine->pool, bytes, engine->send_ring_limit);
}

// The bound is the TCB's share of the chunk pool: a streaming reply fills
// chunks only, never heap blocks.
std::size_t Tcb::send_room() const {
    std::size_t queued = send_queue.size();
    return queued < engine->send_ring_limit ? engine->send_ring_limit - queued : 0;
}

void Tcb::close() {
    app_closed = true;
    fin_queued = true;
}

void Tcb::wake_after(std::chrono::milliseconds delay) {
    wake_at = engine->now_us + std::uint64_t(delay.count()) * 1000;
}

void Tcb::submit(apps::StoreRequest request) { engine->store.submit(token(), std::move(request)); }

void Tcb::on_command(std::string_view line) {
    if (engine->log.verbose()) engine->log.debug(peer.connection, "C: ", line);
}

void Tcb::on_reply(std::string_view line) {
    if (engine->log.verbose()) engine->log.debug(peer.connection, "S: ", line);
}

void Tcb::on_event(std::string_view event, std::string_view detail) {
    // The peer's text is made per event (a few per session), not kept in every TCB.
    const Ipv4Text peer_text(tuple.remote_ip, tuple.remote_port);
    engine->log.event(active_open ? "client" : apps::service_name(service), peer_text.view(), event, detail);
}

// ---- session life ----------------------------------------------------------

// The handshake is complete (SYN-RECEIVED -> ESTABLISHED): the listener's
// service host builds the session in the TCB, and it greets. The peer is
// numbers only; what a machine allocates when built happens here — once per
// connection, never per segment.
void EngineCore::open_session(Tcb& tcb) {
    tcb.opened = true;
    ++counters.connections_opened;
    tcb.peer.ip = tcb.tuple.remote_ip;
    tcb.peer.port = tcb.tuple.remote_port;
    tcb.peer.local_ip = tcb.tuple.local_ip;
    if (tcb.active_open) return open_client_session(tcb);

    const apps::ServiceHost& host = *config.services;  // a listener's TCB: service_for found it
    if (stopping) return refuse(tcb, host.shutdown_line(tcb.service));
    if (sessions[std::size_t(tcb.service)] >= config.max_conn_per_service) {
        // SPEC --max-conn, as the kernel build's refuse_client.
        ++counters.refused_max_conn;
        tcb.on_event("refused", "too many connections");
        return refuse(tcb, host.busy_line(tcb.service));
    }
    apps::ClientLimits::Verdict verdict = host.admit(tcb.service, tcb.tuple.remote_ip, now_ms());
    if (verdict != apps::ClientLimits::Verdict::admitted) {
        // SPEC --max-conn-per-ip, --max-conn-rate-per-ip: as the kernel build.
        ++counters.refused_client_limit;
        tcb.on_event("refused", apps::verdict_text(verdict));
        return refuse(tcb, host.busy_line(tcb.service));
    }
    tcb.client_counted = true;
    ++session_count(tcb);
    tcb.peer.connection = next_connection++;
    apps::Session& session = host.open(tcb.hosted, tcb.service, tcb.peer, tcb.tuple.remote_ip, tcb, tcb, tcb);
    if (log.verbose()) log.debug(tcb.peer.connection, "", "New connection");
    tcb.on_event("connect", "");
    session.start();
}

// An active open reached ESTABLISHED: the caller's handler builds the
// session on this TCB; the engine owns it from here and starts it. A
// handler that declines gets the connection closed (FIN), not reset.
void EngineCore::open_client_session(Tcb& tcb) {
    ActiveOpenHandler* handler = std::exchange(tcb.opener, nullptr);
    tcb.peer.connection = next_connection++;
    std::unique_ptr<apps::Session> session =
        handler ? handler->on_established(SessionHost{tcb, tcb, tcb, tcb.peer}) : nullptr;
    if (!session) {
        tcb.app_closed = true;
        tcb.fin_queued = true;
        return;
    }
    tcb.hosted.host(std::move(session));
    ++session_count(tcb);
    if (log.verbose()) log.debug(tcb.peer.connection, "", "New connection");
    tcb.on_event("connect", "");
    tcb.session().start();
}

std::uint32_t& EngineCore::session_count(const Tcb& tcb) {
    return tcb.active_open ? client_sessions : sessions[std::size_t(tcb.service)];
}

// No machine: the line, then FIN; input is ACKed and dropped.
void EngineCore::refuse(Tcb& tcb, std::string_view line) {
    tcb.refused = true;
    tcb.send_queue.write(pool, line, send_ring_limit);
    tcb.app_closed = true;
    tcb.fin_queued = true;
}

// In-order bytes at RCV.NXT. Straight into the machine when nothing is held
// before them (no copy: the segment's own bytes); what it does not take now
// is held in the TCB and offered again after the store reply or wake-up.
// Returns how many bytes the TCB accepted; RCV.NXT advances by that much.
std::size_t EngineCore::offer_text(Tcb& tcb, std::span<const std::uint8_t> bytes) {
    if (!tcb.hosted.open() || tcb.app_closed) return bytes.size();  // nobody reads it (input after QUIT)
    std::size_t taken = tcb.held.empty() ? feed(tcb, bytes) : 0;
    if (!tcb.hosted.open() || tcb.app_closed) return bytes.size();
    if (taken < bytes.size()) taken += tcb.held.append(pool, bytes.subspan(taken), held_limit(tcb, taken));
    if (taken < bytes.size()) ++counters.dropped_no_room;
    return taken;
}

// Every byte inside the window we advertised is kept: its scaled form is
// rounded up so the right edge never moves left (output.cpp, RFC 7323
// §2.3), which can promise a little more than the receive window; a sender
// that filled it would otherwise wait a retransmission timeout. `taken`:
// the bytes at RCV.NXT the machine has just taken.
std::size_t EngineCore::held_limit(const Tcb& tcb, std::size_t taken) const {
    std::uint32_t next = tcb.rcv_nxt + std::uint32_t(taken);
    std::size_t promised = seq_gt(tcb.rcv_adv, next) ? tcb.rcv_adv - next : 0;
    return std::max<std::size_t>(config.receive_window, tcb.held.size() + promised);
}

// As much as the machine takes while the replies it owes are under the
// TCB's bound (HostedSession::offer): past it the rest is held, the window
// closes (RFC 9293 §3.8.6) and a client that reads nothing is read no
// further. A completed line restarts the idle timer.
std::size_t EngineCore::feed(Tcb& tcb, std::span<const std::uint8_t> bytes) {
    if (!tcb.hosted.open() || tcb.app_closed) return 0;
    apps::HostedSession::Offered offered = tcb.hosted.offer(as_text(bytes), tcb);
    if (offered.line_ended) tcb.last_activity_us = now_us;
    return offered.taken;
}

// Held input, offered again (after a store reply or a wake-up). If the
// window opened enough to matter (RFC 9293 §3.8.6.2.2: by min(RCV.BUFF/2,
// MSS), and the peer was seeing less than half of it), say so at once.
void EngineCore::offer_held(Tcb& tcb) {
    if (tcb.held.empty()) return;
    while (!tcb.held.empty() && tcb.hosted.open() && !tcb.app_closed) {
        std::span<const std::uint8_t> piece = tcb.held.front(pool);
        std::size_t n = feed(tcb, piece);
        tcb.held.consume(pool, n);
        if (n < piece.size()) break;
    }
    if (!tcb.hosted.open() || tcb.app_closed) tcb.held.clear(pool);
    std::uint32_t right = tcb.rcv_nxt + receive_space(tcb);
    std::uint32_t step = std::min<std::uint32_t>(config.receive_window / 2, config.mss);
    bool small = tcb.rcv_adv - tcb.rcv_nxt < config.receive_window / 2;
    if (small && seq_gt(right, tcb.rcv_adv) && right - tcb.rcv_adv >= step) tcb.ack_now = true;
}

// ACKs freed room: a machine streaming a reply queues its next piece (or
// asks the store for it) now, before this pass's output.
void EngineCore::notify_writable(Tcb& tcb) {
    tcb.writable_due = false;
    if (tcb.hosted.open() && !tcb.app_closed) tcb.session().on_writable();
}

// After every event a session saw — input, a store reply, a wake-up, the
// idle timeout, the shutdown, an ACK that made room — and nowhere else:
// held input is offered again, a peer's FIN ends the session once nothing
// is left for it, a streaming reply continues into freed room, and then
// the one output pass sends what is due, so the reply leaves piggybacked
// on the ACK of the request it answers (RFC 1122 §4.2.3.2). One function,
// so that no path can forget a step and stall a reply.
void EngineCore::after_session_event(Tcb& tcb) {
    if (tcb.state == State::closed) return;
    offer_held(tcb);
    check_peer_closed(tcb);
    if (tcb.writable_due) notify_writable(tcb);
    output(tcb);
    if (tcb.refused && tcb.fin_sent && tcb.state != State::time_wait) forget_refused(tcb);
}

// A refused connection gets its line and FIN (one segment) and is kept no
// longer than TIME-WAIT, whose slots the table reclaims first when it is
// full (reclaim_time_wait): refusals, however many, never hold a TCB a new
// client needs, and a peer that never ACKs or closes pins nothing. What is
// lost: our FIN is not retransmitted — a client whose segment was dropped
// sees no greeting and times out, as against a full listen queue; the
// 4-tuple still answers its ACK and FIN in TIME-WAIT (RFC 9293 §3.10.7.4).
void EngineCore::forget_refused(Tcb& tcb) {
    tcb.snd_una = tcb.snd_nxt;  // nothing left to retransmit
    to_time_wait(tcb);
    arm(tcb);
}

// The peer's FIN arrived. Once every byte before it has been taken and the
// machine waits on nothing (a pending Deliver is answered first, so its 250
// still goes out), the session ends and our FIN follows what is queued.
void EngineCore::check_peer_closed(Tcb& tcb) {
    if (!tcb.peer_fin || !tcb.hosted.open() || tcb.app_closed) return;
    if (!tcb.held.empty() || tcb.session().waiting()) return;
    release_session(tcb, "closed by peer");
    tcb.fin_queued = true;
}

void EngineCore::release_session(Tcb& tcb, std::string_view why) {
    if (!tcb.hosted.open()) return;
    tcb.session().on_peer_closed();  // releases maildrop locks, drops half transactions
    if (log.verbose()) log.debug(tcb.peer.connection, "", "Connection closed");
    tcb.on_event("disconnect", why);
    tcb.hosted.end();  // a reply to what on_peer_closed submitted is dropped
    --session_count(tcb);
    if (std::exchange(tcb.client_counted, false))
        config.services->release(tcb.service, tcb.tuple.remote_ip, now_ms());
    tcb.held.clear(pool);
    tcb.wake_at = 0;
}

// RFC 9293 §3.10.7.4: TIME-WAIT holds the 4-tuple for 2*MSL so old
// duplicates die; the session is over.
void EngineCore::to_time_wait(Tcb& tcb) {
    release_session(tcb, "closed");
    if (tcb.state != State::time_wait) --open;
    tcb.state = State::time_wait;
    tcb.retransmit_at = tcb.persist_at = 0;
    tcb.linger_at = now_us + std::uint64_t(config.time_wait_ms) * 1000;
    tcb.send_queue.clear(pool);
    tcb.send_waiting_since_us = 0;
    tcb.out_of_order.clear(pool);
    if (time_wait_count == time_wait_ring.size()) reclaim_time_wait();  // full: the oldest goes
    time_wait_ring[(time_wait_head + time_wait_count) % time_wait_ring.size()] = {tcb.slot, tcb.incarnation};
    ++time_wait_count;
}

// Ends the oldest TIME-WAIT early so its slot can serve a new connection.
// RFC 9293 §3.6.1 keeps TIME-WAIT to protect a new incarnation of the same
// 4-tuple from old duplicates; a different 4-tuple takes the slot here, and
// the same one re-opens only with a higher sequence number (input.cpp).
bool EngineCore::reclaim_time_wait() {
    while (time_wait_count > 0) {
        TimeWaitEntry entry = time_wait_ring[time_wait_head];
        time_wait_head = (time_wait_head + 1) % time_wait_ring.size();
        --time_wait_count;
        Tcb& tcb = table.at(entry.slot);
        if (tcb.state == State::time_wait && tcb.incarnation == entry.incarnation) {
            free_tcb(tcb);
            return true;
        }
    }
    return false;
}

// RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST>, then forget the TCB.
// In SYN-RECEIVED the RST also carries <ACK=RCV.NXT>: if our SYN-ACK was
// lost the peer is still in SYN-SENT, where a RST counts only with an ACK
// of its SYN (§3.10.7.3); a synchronized peer checks only SEG.SEQ.
void EngineCore::abort(Tcb& tcb, std::string_view why) {
    transmit(tcb, tcb.snd_nxt, 0, tcb.state == State::syn_received ? RST | ACK : RST);
    release_session(tcb, why);
    free_tcb(tcb, why);
}

// An active open that never reached ESTABLISHED reports `why` to its
// handler first — while this TCB still holds its slot, so a handler that
// calls connect again gets another one and this TCB is not reused under
// our feet.
void EngineCore::free_tcb(Tcb& tcb, std::string_view why) {
    if (tcb.state == State::closed) return;
    if (ActiveOpenHandler* handler = std::exchange(tcb.opener, nullptr)) {
        ++counters.active_open_failures;
        handler->on_failed(why);
    }
    release_session(tcb, "closed");
    if (tcb.state == State::syn_received) --half_open;
    if (tcb.state != State::time_wait) --open;
    if (tcb.opened) ++counters.connections_closed;
    tcb.send_queue.clear(pool);
    tcb.held.clear(pool);
    tcb.out_of_order.clear(pool);
    wheel.cancel(tcb.slot);
    table.erase(tcb);
    ++tcb.incarnation;
    static_cast<TcbVars&>(tcb) = TcbVars{};
}

}  // namespace bm::tcp
