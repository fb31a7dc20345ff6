// The run-to-completion loop of the DPDK build: one core takes each frame
// through Ethernet, ARP / IPv4, ICMP / UDP / TCP and the engine (whose
// sessions answer in the same pass), then services timers and the store's
// completions, then sends everything in one burst.
//
// --poll busy repeats that without pause (a core of its own). --poll
// adaptive (the default) does so while there is work and, after an idle
// spell, sleeps until the next deadline, a received frame or a store
// completion (IdlePolicy, RxWaiter). Either way the cycles of the
// iterations that did work are counted apart (CycleMeter).
//
// It is also the engine's environment: tcp::StorePort (requests go to the
// I/O worker through MailBackend) and tcp::EventSink (the event log); what
// lies below TCP, frames in and out, is the IPv4 host's (ipv4_host.hpp),
// and the settings come from stack_config.hpp.
#pragma once

#include <csignal>
#include <cstdint>
#include <optional>

#include "dataplane/common/event_log.hpp"
#include "dataplane/common/mail_backend.hpp"
#include "dataplane/common/options.hpp"
#include "dataplane/dpdk/counters.hpp"
#include "dataplane/dpdk/cycle_meter.hpp"
#include "dataplane/dpdk/idle_policy.hpp"
#include "dataplane/dpdk/ipv4_host.hpp"
#include "dataplane/dpdk/port.hpp"
#include "dataplane/dpdk/relay_link.hpp"
#include "dataplane/dpdk/rx_waiter.hpp"
#include "dataplane/dpdk/stack_config.hpp"
#include "tcp/engine.hpp"

namespace bm::dpdk {

// Set by the signal handlers (main.cpp), read by the loop each iteration.
struct SignalFlags {
    volatile std::sig_atomic_t stop = 0;    // SIGTERM, SIGINT
    volatile std::sig_atomic_t report = 0;  // SIGUSR1: print the counters
    volatile std::sig_atomic_t reload = 0;  // SIGHUP: run_reloads (program.hpp)
    // Written by the handlers so a sleeping loop wakes whichever thread
    // took the signal (-1: the loop does not sleep).
    volatile std::sig_atomic_t wake_fd = -1;
};

// Microseconds since start, from the TSC (no syscall).
class TscClock {
public:
    TscClock();
    std::uint64_t now_us(std::uint64_t tsc) const;
    std::uint64_t hz() const { return hz_; }

private:
    std::uint64_t start_, hz_;
};

class PollLoop final : public tcp::StorePort, public tcp::EventSink {
public:
    PollLoop(const Options& options, const Addressing& addressing, Port& port, store::MailStore* store,
             store::IoWorker& worker, EventLog& log, Counters& counters);
    ~PollLoop();

    // Serves until a stop signal, then shuts down as SPEC says (sessions
    // told, durable writes finished, bounded). Returns the exit code.
    int run(SignalFlags& signals);

    // tcp::StorePort
    void submit(std::uint64_t token, apps::StoreRequest request) override;
    // tcp::EventSink
    void event(std::string_view service, std::string_view peer, std::string_view event,
               std::string_view detail) override;
    bool verbose() const override;
    void debug(std::uint64_t connection, std::string_view prefix, std::string_view text) override;

private:
    static constexpr std::uint16_t burst_size = 32;

    // True when the iteration did work (see PollCounters).
    bool iteration();
    void rest(bool worked);
    std::uint64_t wake_at_us() const;
    bool on_store_reply(std::uint64_t token, apps::StoreReply& reply);
    void housekeeping();
    void report(bool nonzero_drops_only);

    const Options& options_;
    Port& port_;
    EventLog& log_;
    Counters& counters_;
    TscClock clock_;
    CycleMeter meter_;
    bool worked_ = false;  // by the last iteration
    std::uint64_t now_us_ = 0;
    std::uint64_t next_housekeeping_us_ = 0;

    Ipv4Host host_;
    store::IoWorker& worker_;
    MailBackend backend_;
    std::optional<tcp::Engine> engine_;
    std::unique_ptr<RelayLink> relay_;  // after the engine: its sessions report here
    IdlePolicy idle_;
    std::optional<RxWaiter> waiter_;    // --poll adaptive
};

}  // namespace bm::dpdk
