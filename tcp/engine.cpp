// Construction and the public entry points of the engine. Every entry point
// sets the engine's notion of now; nothing below reads a clock.
#include <algorithm>
#include <array>

#include "tcp/engine_impl.hpp"
#include "tcp/seq.hpp"

namespace bm::tcp {
namespace {

// Independent keys for ISNs, cookies and the table from the one secret.
SipKey derive_key(const EngineConfig& config, std::uint8_t label) {
    SipKey master{config.isn_secret[0], config.isn_secret[1]};
    std::array<std::uint8_t, 2> in0 = {label, 0}, in1 = {label, 1};
    return {siphash24(master, in0), siphash24(master, in1)};
}

std::uint32_t chunk_size_for(const EngineConfig& config) {
    return std::max<std::uint32_t>(2048, config.mss);
}

}  // namespace

const char* state_name(State state) {
    switch (state) {
    case State::closed: return "CLOSED";
    case State::syn_sent: return "SYN-SENT";
    case State::syn_received: return "SYN-RECEIVED";
    case State::established: return "ESTABLISHED";
    case State::fin_wait_1: return "FIN-WAIT-1";
    case State::fin_wait_2: return "FIN-WAIT-2";
    case State::close_wait: return "CLOSE-WAIT";
    case State::closing: return "CLOSING";
    case State::last_ack: return "LAST-ACK";
    case State::time_wait: return "TIME-WAIT";
    }
    return "?";
}

EngineCore::EngineCore(EngineConfig config_in, Output& output, StorePort& store_port, EventSink& event_log)
    : config(std::move(config_in)),
      out(output),
      store(store_port),
      log(event_log),
      table(std::max<std::uint32_t>(config.tcb_capacity, 1), derive_key(config, 't')),
      wheel(std::max<std::uint32_t>(config.tcb_capacity, 1)),
      pool(config.buffer_bytes, chunk_size_for(config)),
      isn(derive_key(config, 'i'), config.fixed_isn),
      cookies(derive_key(config, 'c')),
      port_key(derive_key(config, 'p')) {
    config.window_scale = std::min<std::uint8_t>(config.window_scale, 14);  // RFC 7323 §2.3
    // RFC 7323 §2.3: the window field is 16 bits; without scaling at most 65535.
    config.receive_window = std::min<std::uint32_t>(config.receive_window, 65535u << config.window_scale);
    for (std::uint32_t i = 0; i < table.capacity(); ++i) table.at(i).engine = this;
    time_wait_ring.resize(table.capacity());
}

std::optional<Service> EngineCore::service_for(std::uint16_t port) const {
    if (port == 0 || !config.services) return std::nullopt;
    if (port == config.smtp_port) return Service::smtp;
    if (port == config.pop3_port) return Service::pop3;
    if (port == config.echo_port) return Service::echo;
    return std::nullopt;
}

// The pimpl is the core itself; the name Impl stays private to Engine.
struct Engine::Impl : EngineCore {
    using EngineCore::EngineCore;
};

Engine::Engine(EngineConfig config, Output& output, StorePort& store, EventSink& log)
    : impl_(std::make_unique<Impl>(std::move(config), output, store, log)) {}

Engine::~Engine() = default;

void Engine::on_segment(const SegmentIn& segment, std::uint64_t now_us) {
    impl_->now_us = now_us;
    impl_->wheel.begin(now_us);
    impl_->on_segment(segment);
}

bool Engine::on_store_reply(std::uint64_t token, apps::StoreReply&& reply, std::uint64_t now_us) {
    Impl& e = *impl_;
    e.now_us = now_us;
    e.wheel.begin(now_us);
    std::uint32_t slot = apps::HostedSession::slot_of(token);
    if (slot >= e.table.capacity()) return false;
    Tcb& tcb = e.table.at(slot);
    // Late replies for a session that is gone (slot reused or released).
    if (!tcb.hosted.answers(token)) return false;
    tcb.session().on_store_reply(std::move(reply));
    e.after_session_event(tcb);
    return true;
}

std::size_t Engine::on_timers(std::uint64_t now_us) {
    Impl& e = *impl_;
    e.now_us = now_us;
    std::size_t fired = 0;
    e.wheel.expire(now_us, [&e, &fired](std::uint32_t slot) {
        ++fired;
        e.on_tcb_timer(e.table.at(slot));
    });
    return fired;
}

std::uint64_t Engine::next_timer_us() const { return impl_->wheel.next_due_bound(); }

// SPEC: stop accepting (new SYNs are answered as for a closed port, RFC
// 9293 §3.10.7.1), every session sends its shutdown line and closes;
// sessions waiting on the store send it once the store has answered.
// Nothing waits on a connection that never had a session: half-open TCBs
// and refused ones (their refusal line may sit behind a closed window) are
// aborted at once (§3.10.5 ABORT), so open_connections() falls to zero as
// soon as the sessions' own closes finish.
void Engine::shutdown(std::uint64_t now_us) {
    Impl& e = *impl_;
    e.now_us = now_us;
    e.wheel.begin(now_us);
    e.stopping = true;
    for (std::uint32_t i = 0; i < e.table.capacity(); ++i) {
        Tcb& tcb = e.table.at(i);
        if (tcb.state == State::closed || tcb.state == State::time_wait) continue;
        // §3.10.5 ABORT in SYN-SENT: delete the TCB; there is no one to reset.
        if (tcb.state == State::syn_sent) {
            e.free_tcb(tcb, "shutdown");
            continue;
        }
        if (tcb.state == State::syn_received || tcb.refused) {
            e.abort(tcb, "shutdown");
            continue;
        }
        if (!tcb.hosted.open() || tcb.app_closed) continue;
        tcb.session().on_shutdown();
        e.after_session_event(tcb);
    }
}

ConnectResult Engine::connect(const ActiveOpen& request, ActiveOpenHandler& handler, std::uint64_t now_us) {
    Impl& e = *impl_;
    e.now_us = now_us;
    e.wheel.begin(now_us);
    return e.connect(request, handler);
}

std::size_t Engine::open_connections() const { return impl_->open; }

const Counters& Engine::counters() const { return impl_->counters; }

std::size_t Engine::tcb_size() { return sizeof(Tcb); }

std::string Engine::invariant_violation() const {
    EngineCore& e = *impl_;
    std::uint32_t open = 0, half_open = 0;
    for (std::uint32_t i = 0; i < e.table.capacity(); ++i) {
        const Tcb& t = e.table.at(i);
        if (t.state == State::closed) continue;
        open += t.state != State::time_wait;
        half_open += t.state == State::syn_received;
        std::string where = std::string(state_name(t.state)) + " slot " + std::to_string(i) + ": ";
        if (!seq_le(t.snd_una, t.snd_nxt)) return where + "SND.UNA > SND.NXT";
        if (!seq_le(t.snd_nxt, t.snd_max)) return where + "SND.NXT > SND.MAX";
        if (!seq_le(t.rcv_acked, t.rcv_nxt)) return where + "ACKed past RCV.NXT";
        if (t.snd_wnd > t.max_snd_wnd) return where + "SND.WND > MAX.SND.WND";
        // In flight: queued octets, plus a SYN and a FIN.
        if (t.snd_max - t.snd_una > t.send_queue.size() + 2) return where + "in flight but not queued";
        if (t.state != State::syn_sent &&
            (t.snd_mss > e.config.mss || t.snd_mss < std::min(e.config.min_mss, e.config.mss)))
            return where + "send MSS " + std::to_string(t.snd_mss) + " out of bounds";
    }
    if (open != e.open) return "open count " + std::to_string(e.open) + ", TCBs " + std::to_string(open);
    if (half_open != e.half_open)
        return "half-open count " + std::to_string(e.half_open) + ", TCBs " + std::to_string(half_open);
    return "";
}

}  // namespace bm::tcp
