#include "dataplane/dpdk/poll_loop.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>

#include "dataplane/common/program.hpp"

namespace bm::dpdk {
namespace {

constexpr std::uint64_t housekeeping_interval_us = 100'000;
// The longest an adaptive loop sleeps without a deadline: what it does not
// track to the microsecond (DNS retransmissions, frames waiting for ARP,
// the shutdown grace period) is served at least this often, as the kernel
// build's 100 ms timer scan does.
constexpr std::uint64_t max_sleep_us = 100'000;
constexpr std::uint64_t shutdown_grace_us = 30'000'000;  // as the kernel build

}  // namespace

// ---- clock -------------------------------------------------------------------

TscClock::TscClock() : start_(rte_get_tsc_cycles()), hz_(rte_get_tsc_hz()) {}

std::uint64_t TscClock::now_us(std::uint64_t tsc) const {
    std::uint64_t cycles = tsc - start_;
    return cycles / hz_ * 1'000'000 + (cycles % hz_) * 1'000'000 / hz_;
}

// ---- set-up --------------------------------------------------------------------

PollLoop::PollLoop(const Options& options, const Addressing& addressing, Port& port, store::MailStore* store,
                   store::IoWorker& worker, EventLog& log, Counters& counters)
    : options_(options),
      port_(port),
      log_(log),
      counters_(counters),
      meter_(counters.poll, clock_.hz()),
      host_(addressing, port, counters),
      worker_(worker),
      backend_(store, worker,
               [this](std::uint64_t token, apps::StoreReply& reply) { return on_store_reply(token, reply); }),
      idle_(options.poll_idle_us) {
    std::string tag = instance_tag();
    engine_.emplace(engine_config(options, port, tag), host_, *this, *this);
    host_.attach(*engine_);
    if (store && !options.sink) {
        relay_ = std::make_unique<RelayLink>(options, tag, *store, worker, *engine_, host_, log);
        RelayAgent& agent = relay_->agent();
        backend_.set_on_queued([&agent] { agent.queue_changed(); });
        if (UdpReceiver* dns = relay_->dns()) host_.bind(*dns);
    }
    if (!options.busy_poll) {
        waiter_.emplace(port.id(), worker.event_fd());
        backend_.set_wake_fd(waiter_->wake_fd());  // a finished password check ends a sleep
        counters.poll.rx_interrupts.set(waiter_->rx_interrupts());
    }
}

PollLoop::~PollLoop() = default;

// ---- the loop --------------------------------------------------------------------

int PollLoop::run(SignalFlags& signals) {
    std::string poll = !waiter_                 ? "busy"
                       : waiter_->rx_interrupts() ? "adaptive (rx interrupts)"
                                                  : "adaptive (no rx interrupts: sleeps of 50 us to 1 ms)";
    log_.event("server", "-", "start",
               "pid=" + std::to_string(getpid()) + " ip=" + options_.ip + "/" + std::to_string(options_.prefix_len) +
                   " port=" + port_.describe() + " tcb_size=" + std::to_string(tcp::Engine::tcb_size()) +
                   " poll=" + poll);
    if (waiter_) signals.wake_fd = waiter_->wake_fd();
    bool stopping = false;
    std::uint64_t deadline_us = 0;
    for (;;) {
        bool worked = iteration();
        if (signals.report) {
            signals.report = 0;
            report(true);
        }
        if (signals.reload) {
            signals.reload = 0;
            run_reloads(log_);
        }
        if (signals.stop && !stopping) {
            // SPEC: stop accepting, tell every session, finish durable writes.
            stopping = true;
            deadline_us = now_us_ + shutdown_grace_us;
            log_.event("server", "-", "shutdown", "signal");
            if (relay_) relay_->stop();  // starts nothing new; queued recipients stay pending
            engine_->shutdown(now_us_);
            host_.tx().flush();
        }
        if (stopping && ((engine_->open_connections() == 0 && backend_.in_flight() == 0) || now_us_ > deadline_us))
            break;
        if (waiter_) rest(worked);
    }
    signals.wake_fd = -1;
    if (relay_) relay_->poll(now_us_);  // cut sessions' results reach the queue files
    worker_.stop();  // every submitted job finishes (no accepted message is lost)
    backend_.poll();
    for (int tries = 0; tries < 1000 && !host_.tx().empty(); ++tries) host_.tx().flush();
    housekeeping();
    report(true);
    log_.event("server", "-", "stop", engine_->open_connections() == 0 ? "ok" : "grace period over");
    return 0;
}

bool PollLoop::iteration() {
    std::uint64_t tsc = rte_rdtsc();  // the one TSC read: clock and cycle meter
    meter_.lap(tsc, worked_);
    now_us_ = clock_.now_us(tsc);
    host_.set_now(now_us_);
    rte_mbuf* frames[burst_size];
    std::uint16_t n = rte_eth_rx_burst(port_.id(), 0, frames, burst_size);
    if (n > 0) counters_.port.rx_bursts.add();
    for (std::uint16_t i = 0; i < n; ++i) {
        if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(frames[i + 1], void*));
        host_.receive(frames[i]);
    }
    bool worked = n > 0;
    worked |= engine_->on_timers(now_us_) > 0;
    worked |= backend_.poll() > 0;
    if (relay_) relay_->poll(now_us_);
    host_.expire_pending();
    worked |= !host_.tx().empty();  // frames to send, or left over from a refused burst
    host_.tx().flush();
    if (now_us_ >= next_housekeeping_us_) housekeeping();
    worked_ = worked;
    return worked;
}

// --poll adaptive: what to do after an iteration (idle_policy.hpp).
void PollLoop::rest(bool worked) {
    switch (idle_.after(worked, now_us_)) {
    case IdleStep::poll: return;
    case IdleStep::arm: return waiter_->arm();
    case IdleStep::disarm: return waiter_->disarm();
    case IdleStep::sleep: {
        std::uint64_t us = sleep_us(now_us_, wake_at_us(), max_sleep_us);
        if (!waiter_->rx_interrupts()) us = std::min(us, idle_.blind_sleep_us(now_us_));
        counters_.poll.sleeps.add();
        return waiter_->sleep(us);
    }
    }
}

// The earliest moment something is due without a frame or completion to
// announce it: an engine timer, or the relay agent's next tick (it ticks
// on the second, or at once when it asks to; a stopping agent starts
// nothing). now_us_ is recent: the iteration that just ended started it.
std::uint64_t PollLoop::wake_at_us() const {
    std::uint64_t at = engine_->next_timer_us();
    if (relay_) {
        const RelayAgent& agent = relay_->agent();
        if (agent.wants_tick() && !agent.stopping()) return now_us_;
        timespec wall{};
        clock_gettime(CLOCK_REALTIME, &wall);  // vDSO: no system call
        at = std::min(at, now_us_ + (1'000'000'000 - std::uint64_t(wall.tv_nsec)) / 1000 + 1);
    }
    return at;
}

void PollLoop::housekeeping() {
    next_housekeeping_us_ = now_us_ + housekeeping_interval_us;
    counters_.snapshot_engine(engine_->counters());
    counters_.open_connections.set(engine_->open_connections());
    counters_.store_in_flight.set(backend_.in_flight());
    counters_.arp_cache_entries.set(host_.arp_entries());
}

void PollLoop::report(bool nonzero_drops_only) {
    housekeeping();
    rte_eth_stats stats{};
    rte_eth_stats_get(port_.id(), &stats);
    std::fprintf(stderr,
                 "baremail counters (%s)\n%sethdev.ipackets %llu\nethdev.opackets %llu\nethdev.imissed %llu\n"
                 "ethdev.ierrors %llu\nethdev.oerrors %llu\nethdev.rx_nombuf %llu\n",
                 port_.describe().c_str(), format_counters(counters_, nonzero_drops_only).c_str(),
                 (unsigned long long)stats.ipackets, (unsigned long long)stats.opackets,
                 (unsigned long long)stats.imissed, (unsigned long long)stats.ierrors,
                 (unsigned long long)stats.oerrors, (unsigned long long)stats.rx_nombuf);
}

// ---- the engine's other ports ---------------------------------------------------------

// MailBackend wants to know whether the token's connection still exists
// (false: it undoes the reply, e.g. unlocks a maildrop). The engine says so,
// and leaves the reply untouched when it does not take it.
bool PollLoop::on_store_reply(std::uint64_t token, apps::StoreReply& reply) {
    return engine_->on_store_reply(token, std::move(reply), now_us_);
}

void PollLoop::submit(std::uint64_t token, apps::StoreRequest request) { backend_.submit(token, std::move(request)); }

void PollLoop::event(std::string_view service, std::string_view peer, std::string_view event,
                     std::string_view detail) {
    log_.event(service, peer, event, detail);
}

bool PollLoop::verbose() const { return log_.verbose(); }

void PollLoop::debug(std::uint64_t connection, std::string_view prefix, std::string_view text) {
    if (prefix.empty()) log_.debug(connection, text);
    else log_.debug_line(prefix, connection, text);
}

}  // namespace bm::dpdk
