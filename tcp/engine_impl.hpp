// EngineCore (Engine::Impl): what the engine's files share. One responsibility per file:
//   input.cpp         RFC 9293 §3.10.7 "segment arrives", step by step
//   active_open.cpp   RFC 9293 §3.10.1 active OPEN: ephemeral port, SYN-SENT
//   output.cpp        the one place segments are built (data, ACK, FIN, SYN-ACK, RST)
//   timers.cpp        RTO, persist, delayed ACK, linger, idle, wake-ups
//   session_glue.cpp  the TCB as the machine's Transport/MailPort/Observer,
//                     offering input, opening and releasing sessions
//   engine.cpp        construction and the public entry points
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tcp/chunk_pool.hpp"
#include "tcp/engine.hpp"
#include "tcp/isn.hpp"
#include "tcp/syn_cookies.hpp"
#include "tcp/tcb.hpp"
#include "tcp/tcb_table.hpp"
#include "tcp/timer_wheel.hpp"

namespace bm::tcp {

struct EngineCore {
    EngineCore(EngineConfig config, Output& output, StorePort& store, EventSink& log);

    // ---- input.cpp
    void on_segment(const SegmentIn& segment);
    void segment_for_closed_port(const SegmentIn& segment);
    void segment_for_listener(const SegmentIn& segment, Service service);
    void open_passive(const SegmentIn& segment, Service service);
    void open_from_cookie(const SegmentIn& segment, Service service, std::uint16_t mss);
    void send_cookie(const SegmentIn& segment);
    bool syn_cookies_recent() const;
    void segment_arrives(Tcb& tcb, const SegmentIn& segment);
    void segment_in_syn_sent(Tcb& tcb, const SegmentIn& segment);
    void synchronized_from_syn_sent(Tcb& tcb, const SegmentIn& segment);
    void simultaneous_open(Tcb& tcb, const SegmentIn& segment);
    void take_syn_options(Tcb& tcb, const SegmentIn& segment);
    bool acknowledgment_arrives(Tcb& tcb, const SegmentIn& segment, std::size_t payload_len);
    void new_acknowledgment(Tcb& tcb, std::uint32_t ack);
    void text_arrives(Tcb& tcb, std::uint32_t seq, std::span<const std::uint8_t> payload);
    bool ack_unanswered_text(Tcb& tcb, std::uint8_t flags);
    void fin_arrives(Tcb& tcb);

    // ---- active_open.cpp
    ConnectResult connect(const ActiveOpen& request, ActiveOpenHandler& handler);
    bool choose_local_port(FourTuple& tuple);

    // ---- output.cpp
    void output(Tcb& tcb);
    void transmit(Tcb& tcb, std::uint32_t seq, std::size_t len, std::uint8_t flags);
    void retransmit_first(Tcb& tcb);
    void send_challenge_ack(Tcb& tcb);
    void send_reset(const FourTuple& tuple, std::uint32_t seq, std::uint32_t ack, std::uint8_t flags);
    void emit(const SegmentOut& segment, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);
    std::uint16_t window_field(Tcb& tcb);
    std::uint32_t receive_space(const Tcb& tcb) const;

    // ---- timers.cpp
    void arm(Tcb& tcb);
    void on_tcb_timer(Tcb& tcb);
    void on_retransmit_timeout(Tcb& tcb);
    void on_persist_timeout(Tcb& tcb);
    void on_idle(Tcb& tcb);
    bool send_timed_out(const Tcb& tcb) const;
    void restart_retransmit_timer(Tcb& tcb);

    // ---- session_glue.cpp
    void open_session(Tcb& tcb);
    void open_client_session(Tcb& tcb);
    std::uint32_t& session_count(const Tcb& tcb);
    void refuse(Tcb& tcb, std::string_view line);
    std::size_t offer_text(Tcb& tcb, std::span<const std::uint8_t> bytes);
    std::size_t feed(Tcb& tcb, std::span<const std::uint8_t> bytes);
    std::size_t held_limit(const Tcb& tcb, std::size_t taken) const;
    void offer_held(Tcb& tcb);
    void check_peer_closed(Tcb& tcb);
    void notify_writable(Tcb& tcb);
    void after_session_event(Tcb& tcb);
    void release_session(Tcb& tcb, std::string_view why);
    void to_time_wait(Tcb& tcb);
    bool reclaim_time_wait();
    void forget_refused(Tcb& tcb);
    void refuse_without_tcb(const SegmentIn& segment, Service service);
    std::chrono::milliseconds now_ms() const { return std::chrono::milliseconds(now_us / 1000); }
    void abort(Tcb& tcb, std::string_view why);
    // `why` reaches an active open's handler if it never got established.
    void free_tcb(Tcb& tcb, std::string_view why = "closed");
    std::uint32_t idle_timeout_us(const Tcb& tcb) const;
    std::uint64_t send_timeout_us() const;

    // ---- engine.cpp
    std::optional<Service> service_for(std::uint16_t local_port) const;

    EngineConfig config;
    Output& out;
    StorePort& store;
    EventSink& log;

    TcbTable table;
    TimerWheel wheel;
    ChunkPool pool;
    IsnGenerator isn;
    SynCookies cookies;
    Counters counters;

    std::uint64_t now_us = 0;
    std::uint32_t half_open = 0;         // TCBs in SYN-RECEIVED
    std::uint32_t open = 0;              // TCBs used and not in TIME-WAIT
    std::uint32_t sessions[apps::service_count] = {};  // live sessions by Service
    std::uint32_t client_sessions = 0;      // live sessions of active opens
    SipKey port_key;                        // RFC 6056 §3.3.3 F() for ephemeral ports
    std::uint32_t port_counter = 0;         // RFC 6056 §3.3.3 next_ephemeral
    std::uint64_t next_connection = 1;   // the [N] of -v lines
    bool stopping = false;
    std::uint64_t last_cookie_us = 0;    // cookie ACKs are checked only soon after
    // TIME-WAIT TCBs, oldest first, as (slot, incarnation); entries whose
    // TCB has since left TIME-WAIT are skipped. When the pool is full the
    // oldest TIME-WAIT TCB is reused (the server closes first after QUIT,
    // so TIME-WAIT, not open sessions, is what fills the pool under load).
    struct TimeWaitEntry {
        std::uint32_t slot, incarnation;
    };
    std::vector<TimeWaitEntry> time_wait_ring;
    std::size_t time_wait_head = 0, time_wait_count = 0;
    std::size_t send_ring_limit = 256 * 1024;  // per TCB, bytes in chunks

    // RFC 5961 §7: at most challenge_ack_limit challenge ACKs per second —
    // per TCB, not engine-wide: a shared counter is the side channel of
    // CVE-2016-5696 (an off-path attacker learns whether its guess hit).
    static constexpr std::uint16_t challenge_ack_limit = 100;
};

}  // namespace bm::tcp
