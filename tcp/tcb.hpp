// The transmission control block: one connection's TCP state (RFC 9293
// §3.3.1 variables), its buffers, its timers, and — as in the bare-PC
// server's TCB table — the hosted session itself, its machine constructed
// in place (apps/hosted_session, shared with the kernel build). The TCB is
// the machine's Transport, MailPort and Observer, the role dataplane/kernel's
// Connection plays in the kernel build: what the machine sends lands in
// `send_queue`, and leaves piggybacked on the segment that ACKs its input.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "apps/hosted_session.hpp"
#include "apps/session.hpp"
#include "tcp/chunk_pool.hpp"
#include "tcp/congestion.hpp"
#include "tcp/engine.hpp"
#include "tcp/out_of_order.hpp"
#include "tcp/rtt.hpp"
#include "tcp/send_buffer.hpp"

namespace bm::tcp {

// RFC 9293 §3.3.2. LISTEN is not a TCB state here: a listener is a port
// number (EngineCore::service_for).
enum class State : std::uint8_t {
    closed,  // the slot is free
    syn_sent,
    syn_received,
    established,
    fin_wait_1,
    fin_wait_2,
    close_wait,
    closing,
    last_ack,
    time_wait,
};
const char* state_name(State state);

struct EngineCore;

// The machines' cold state lives outside the TCB, in blocks of a
// per-thread pool (apps/block_pool.hpp): an SMTP session's line buffer,
// envelope and body from its first input to its end, the POP3, echo and
// relay-client machines whole. Once the pool is warm an SMTP session
// allocates nothing of its own (tests/allocation_test.cpp).
// FIXME(allocation): still on the heap — what store requests carry (the
// Deliver's envelope, body and header prefix, by value in
// apps/mail_port.hpp), address parts over 15 octets (apps/address parses
// into std::string), and POP3's maildrop listing (vectors per login).
// Size: 472 bytes (at most 512, asserted below) — TcbVars 200, SendBuffer
// 80, the hosted session 80 (the SMTP machine: 64), three vtable pointers
// 24, apps::Peer 24 (addresses as numbers: their text is made where a log
// line or a Received: field needs it), the received queue 20; out-of-order
// data is pooled.
//
// Active opens host a session built by the caller's ActiveOpenHandler and
// owned through a pointer (HostedSession::host): the engine cannot build
// the relay client itself (its message, config and report sink are the
// caller's). One allocation per outgoing connection, made by the caller.

// The per-connection variables that start from their defaults each time a
// slot is taken (TcbTable hands out a TCB, the engine assigns TcbVars{}).
struct TcbVars {
    State state = State::closed;
    Service service = Service::smtp;

    // ---- RFC 9293 §3.3.1 send sequence variables
    std::uint32_t iss = 0;
    std::uint32_t snd_una = 0;
    std::uint32_t snd_nxt = 0;
    std::uint32_t snd_max = 0;      // highest sequence sent + 1 (snd_nxt goes back on an RTO)
    std::uint32_t snd_wnd = 0;      // scaled
    std::uint32_t max_snd_wnd = 0;  // RFC 5961 §5.2 MAX.SND.WND
    std::uint32_t snd_wl1 = 0;
    std::uint32_t snd_wl2 = 0;
    std::uint16_t snd_mss = 536;    // RFC 9293 §3.7.1 default without the option
    std::uint8_t snd_shift = 0;     // RFC 7323 Snd.Wind.Shift
    std::uint8_t rcv_shift = 0;     // RFC 7323 Rcv.Wind.Shift
    bool window_scaling = false;    // both SYNs carried the option (RFC 7323 §2.2)

    // ---- receive sequence variables
    std::uint32_t irs = 0;
    std::uint32_t rcv_nxt = 0;
    std::uint32_t rcv_adv = 0;    // right edge of the last window advertised
    std::uint32_t rcv_acked = 0;  // RCV.NXT as last sent in an ACK

    // ---- retransmission and congestion
    RetransmitTimeout rto;
    NewReno congestion;
    std::uint32_t timed_seq = 0;  // RFC 6298 §3: one segment timed at a time
    std::uint64_t timed_at_us = 0;
    bool timing = false;
    std::uint8_t retries = 0;         // consecutive RTO expiries
    std::uint8_t persist_backoff = 0;
    std::uint16_t challenge_acks = 0;     // RFC 5961 §7, this second
    std::uint32_t challenge_second = 0;

    // ---- closing
    bool fin_queued = false;   // send a FIN once `send` has drained
    bool fin_sent = false;     // fin_seq is the FIN's sequence number
    std::uint32_t fin_seq = 0;
    bool app_closed = false;   // the machine called close(): no more input for it
    bool peer_fin = false;     // the peer's FIN was received
    bool ack_now = false;      // an ACK is owed at the end of this pass
    bool writable_due = false; // ACKs drained the send queue to half its bound
    bool refused = false;      // over max_conn_per_service or a client limit: refusal line, then FIN
    bool client_counted = false;  // admitted by ServiceHost::admit: released when the session ends
    bool opened = false;       // reached ESTABLISHED (for the counters)
    bool active_open = false;  // from Engine::connect (SYN-SENT), not a listener
    ActiveOpenHandler* opener = nullptr;  // until ESTABLISHED or failure is reported

    // ---- deadlines in microseconds, 0 = off (the wheel holds the earliest)
    std::uint64_t retransmit_at = 0;
    std::uint64_t persist_at = 0;
    std::uint64_t delayed_ack_at = 0;
    std::uint64_t wake_at = 0;
    std::uint64_t linger_at = 0;  // TIME-WAIT 2*MSL, FIN-WAIT-2 timeout
    // The idle timer's start: the handshake, then progress only — a line
    // completed by the machine or new data ACKed — never any segment, or a
    // client sending one byte at a time holds the session (slowloris).
    std::uint64_t last_activity_us = 0;
    // Since when queued bytes have waited with SND.UNA not advancing (0:
    // nothing queued); --send-timeout resets the connection from here.
    std::uint64_t send_waiting_since_us = 0;
};

struct Tcb final : TcbVars, apps::Transport, apps::MailPort, apps::Observer {
    // ---- what the machine calls (session_glue.cpp)
    void send(std::string_view bytes) override;
    std::size_t send_room() const override;
    void close() override;
    void wake_after(std::chrono::milliseconds delay) override;
    void submit(apps::StoreRequest request) override;
    void on_command(std::string_view line) override;
    void on_reply(std::string_view line) override;
    void on_event(std::string_view event, std::string_view detail) override;

    apps::Session& session() { return hosted.session(); }
    std::uint64_t token() const { return hosted.token(slot); }

    EngineCore* engine = nullptr;
    std::uint32_t slot = 0;
    std::uint32_t incarnation = 0; // bumped when the slot is freed (TIME-WAIT ring entries)
    FourTuple tuple;

    // ---- buffers (chunks from the engine's pool)
    SendBuffer send_queue;   // from SND.UNA: in flight, then unsent
    ChunkQueue held;         // in order, received, not yet taken by the machine
    OutOfOrder out_of_order; // beyond RCV.NXT, pooled while there is some

    // ---- the hosted session and who it talks to
    apps::HostedSession hosted;  // open() from ESTABLISHED until released
    apps::Peer peer;  // numbers only; the log's "a.b.c.d:port" is made per event
};

// Every --tcb-capacity slot is one of these, allocated at start.
static_assert(sizeof(Tcb) <= 512, "a TCB holds hot state only: cold state goes to pooled blocks");

}  // namespace bm::tcp
