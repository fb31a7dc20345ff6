// The TCP engine of the DPDK build: a TCB table whose entries embed the
// hosted sessions (apps/hosted_session), so a segment's data is handed to
// the session and its reply leaves on the segment that ACKs the request.
// What a listener hosts is the dataplane's choice (EngineConfig::services);
// the engine speaks to a session through apps::Session and Transport only.
//
// The engine is pure: time comes in as a parameter, segments come in as
// parsed values and leave through Output::emit, store requests leave through
// StorePort and come back through on_store_reply. No DPDK, no sockets —
// unit tests drive it segment by segment. dataplane/dpdk parses frames into
// SegmentIn and turns SegmentOut into frames.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "apps/mail_port.hpp"
#include "apps/session.hpp"
#include "tcp/counters.hpp"
#include "tcp/segment.hpp"

namespace bm::apps {
enum class Service : std::uint8_t;
class ServiceHost;
}  // namespace bm::apps

namespace bm::tcp {

// Disk work for the sessions: the dataplane forwards to the store's I/O
// worker (dataplane/common/mail_backend) and calls Engine::on_store_reply.
class StorePort {
public:
    virtual void submit(std::uint64_t token, apps::StoreRequest request) = 0;

protected:
    ~StorePort() = default;
};

// The log and -v debug lines, as in the kernel build.
class EventSink {
public:
    virtual void event(std::string_view service, std::string_view peer, std::string_view event,
                       std::string_view detail) = 0;
    virtual bool verbose() const = 0;
    virtual void debug(std::uint64_t connection, std::string_view prefix, std::string_view text) = 0;

protected:
    ~EventSink() = default;
};

// A listener's service (apps/hosted_session.hpp).
using Service = apps::Service;

struct EngineConfig {
    std::uint32_t tcb_capacity = 16384;     // preallocated TCBs (all services)
    std::uint32_t max_conn_per_service = 4096;
    std::uint16_t smtp_port = 2500, pop3_port = 11000, echo_port = 10000;  // 0: disabled
    std::uint16_t mss = 1460;               // what we advertise and send at most
    std::uint16_t min_mss = 536;            // a peer's smaller MSS is raised to this (input.cpp)
    std::uint32_t receive_window = 65535;   // per connection, bytes
    std::size_t buffer_bytes = 64u << 20;   // one arena for all TCBs' send/receive chunks
    std::uint8_t window_scale = 7;          // offered in SYN-ACK
    std::uint32_t syn_backlog = 1024;       // half-open TCBs before SYN cookies
    std::uint32_t time_wait_ms = 60000;     // 2*MSL
    std::uint32_t delayed_ack_ms = 40;      // RFC 1122: < 500 ms
    std::uint32_t idle_timeout_s[3] = {300, 600, 300};  // by Service
    std::uint32_t send_timeout_s = 300;     // queued bytes the peer ACKs none of: reset (timers.cpp)
    bool fixed_isn = false;                 // ISN a pure function of the 4-tuple
    std::uint64_t isn_secret[2] = {0, 0};   // RFC 6528 F(); random at start
    // What the listeners host: the sessions opened on their connections
    // and the lines for those refused. Null: nothing listens (a client).
    std::shared_ptr<const apps::ServiceHost> services;
    // ---- active open (Engine::connect)
    std::uint32_t local_ip = 0;             // source address; 0: each request names one
    std::uint16_t ephemeral_first = 49152;  // RFC 6335 §6 dynamic ports
    std::uint16_t ephemeral_last = 65535;
    std::uint8_t syn_retries = 6;           // like Linux tcp_syn_retries: ~127 s, then fail
    std::uint32_t client_idle_timeout_s = 300;  // RFC 5321 §4.5.3.2 minutes per reply
};

// ---- active open -------------------------------------------------------------
// What a session built for an active open talks to: the TCB, which lives as
// long as the session (the engine owns and destroys the session).
struct SessionHost {
    apps::Transport& transport;
    apps::MailPort& store;
    apps::Observer& observer;
    const apps::Peer& peer;
};

// The caller of Engine::connect. Exactly one of the two is called, once;
// the handler must live until then. Either may call connect again.
class ActiveOpenHandler {
public:
    // ESTABLISHED (RFC 9293 §3.10.7.3 fourth step, or §3.10.7.4 from
    // SYN-RECEIVED after a simultaneous open): build the session; the
    // engine owns it and calls start(). Null declines: the engine closes.
    virtual std::unique_ptr<apps::Session> on_established(const SessionHost& host) = 0;
    // The open failed: "connection refused" (RST), "connection timed out"
    // (SYN retries spent), "shutdown", "reset", "closed".
    virtual void on_failed(std::string_view reason) = 0;

protected:
    ~ActiveOpenHandler() = default;
};

struct ActiveOpen {
    std::uint32_t remote_ip = 0;
    std::uint16_t remote_port = 0;
    std::uint32_t local_ip = 0;  // 0: EngineConfig::local_ip
};

struct ConnectResult {
    std::uint64_t handle = 0;  // nonzero once the SYN is on its way
    FourTuple tuple;           // local = ours, with the ephemeral port chosen
    std::string_view error;    // why not, when handle is 0
    explicit operator bool() const { return handle != 0; }
};

class Engine {
public:
    Engine(EngineConfig config, Output& output, StorePort& store, EventSink& log);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // One received segment (checksums already verified by the dataplane).
    void on_segment(const SegmentIn& segment, std::uint64_t now_us);
    // A store reply for the token a session's request was submitted with.
    // True if the token's session took it. False if that session is gone
    // (the TCB was released or reused): `reply` is then left untouched, for
    // the caller to undo what it grants (MailBackend unlocks an opened
    // maildrop). Taken by rvalue reference so that stays possible.
    bool on_store_reply(std::uint64_t token, apps::StoreReply&& reply, std::uint64_t now_us);
    // Retransmission, delayed ACK, TIME_WAIT, idle timeouts, session wake-ups.
    // Returns how many TCBs' timers fired (0: nothing was due).
    std::size_t on_timers(std::uint64_t now_us);
    // The earliest time on_timers may have work: a poll loop can sleep
    // until then. A lower bound (it may find nothing due); all ones when no
    // timer is armed.
    std::uint64_t next_timer_us() const;
    // RFC 9293 §3.10.1 active OPEN: a TCB in SYN-SENT on a free ephemeral
    // port, its SYN sent now. The outcome comes later through `handler`;
    // a failure here (no free TCB or port, no local address, stopping) is
    // returned and the handler is not called.
    ConnectResult connect(const ActiveOpen& request, ActiveOpenHandler& handler, std::uint64_t now_us);
    // SIGTERM: every session sends its shutdown line and closes.
    void shutdown(std::uint64_t now_us);
    // Connections not yet fully closed (TIME_WAIT excluded).
    std::size_t open_connections() const;
    const Counters& counters() const;
    // For tests and fuzzing: the first broken invariant of the TCB table
    // (RFC 9293 §3.3.1 SND.UNA =< SND.NXT =< SND.MAX, RCV.NXT as ACKed
    // never past RCV.NXT, SND.WND within MAX.SND.WND, the send MSS within
    // its bounds, what is in flight still queued, the open and half-open
    // counts), "" when all hold.
    std::string invariant_violation() const;
    // Bytes of memory held per TCB slot (for the idle-connection report).
    // An idle session's machine may hold a few heap strings on top of it.
    static std::size_t tcb_size();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace bm::tcp
