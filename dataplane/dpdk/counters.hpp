// The dataplane's counters: per port, the polling core's cycles, per
// protocol, drops by reason, and a snapshot of the TCP engine's. One polling core writes them; the
// telemetry thread (/baremail/stats) and the SIGUSR1 / exit report read
// them. Relaxed atomics with a plain load-add-store: on x86 that is an
// ordinary add (no lock prefix), and the reader still sees whole values.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/dpdk/drop_reason.hpp"
#include "tcp/counters.hpp"

namespace bm::dpdk {

class Counter {
public:
    void add(std::uint64_t n = 1) {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void set(std::uint64_t n) { value_.store(n, std::memory_order_relaxed); }
    std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

enum class Protocol : std::uint8_t { ethernet, arp, ipv4, icmp, udp, tcp, count };
inline constexpr std::size_t protocol_count = std::size_t(Protocol::count);
inline constexpr const char* protocol_names[protocol_count] = {"eth", "arp", "ipv4", "icmp", "udp", "tcp"};

struct PortCounters {
    Counter rx_packets, rx_bytes, tx_packets, tx_bytes;
    Counter rx_bursts;          // bursts that brought at least one frame
    Counter tx_retried;         // frames the PMD refused once, sent on a later burst
};

// Where the polling core's time goes, from the TSC read once per loop
// iteration. An iteration is busy when it received or sent a frame, fired a
// timer or handled a store completion; the cycles until the next one
// starts are charged to it (busy_cycles) and to total_cycles either way.
// busy_cycles / tsc_hz / messages is the server's CPU per message without
// the empty polls; an adaptive loop's sleeps land in idle iterations.
struct PollCounters {
    Counter busy_cycles, total_cycles, tsc_hz;
    Counter iterations_busy, iterations_idle;
    Counter sleeps;         // adaptive: times the core slept
    Counter rx_interrupts;  // 1: sleeps wake on received frames; 0: bounded sleeps
};

struct ProtocolCounters {
    Counter rx, tx;
};

// The engine's counters (tcp::Counters), copied by the polling core.
inline constexpr std::size_t engine_counter_count = 16;
inline constexpr const char* engine_counter_names[engine_counter_count] = {
    "segments_in", "segments_out", "pure_acks_out", "retransmits", "resets_out",
    "challenge_acks", "syn_cookies_sent", "syn_cookies_accepted", "dropped_bad", "dropped_no_tcb",
    "dropped_out_of_window", "dropped_no_room", "connections_opened", "connections_closed",
    "refused_max_conn", "refused_client_limit",
};

struct Counters {
    PortCounters port;
    PollCounters poll;
    std::array<ProtocolCounters, protocol_count> protocol;
    std::array<Counter, drop_reason_count> drops;
    Counter arp_requests_sent, arp_replies_sent;
    std::array<Counter, engine_counter_count> engine;
    Counter open_connections, store_in_flight, arp_cache_entries;

    void rx(Protocol p) { protocol[std::size_t(p)].rx.add(); }
    void tx(Protocol p) { protocol[std::size_t(p)].tx.add(); }
    void drop(DropReason why) { drops[std::size_t(why)].add(); }
    void snapshot_engine(const tcp::Counters& c);

    // Every counter as (group, name, value), in a fixed order; zero drop
    // reasons included so telemetry keys are stable.
    template <typename Visit>
    void for_each(Visit&& visit) const;
};

// "group.name value" lines; with `nonzero_drops_only` the drop reasons
// that never happened are left out (the human report).
std::string format_counters(const Counters& counters, bool nonzero_drops_only);

template <typename Visit>
void Counters::for_each(Visit&& visit) const {
    visit("port", "rx_packets", port.rx_packets.get());
    visit("port", "rx_bytes", port.rx_bytes.get());
    visit("port", "tx_packets", port.tx_packets.get());
    visit("port", "tx_bytes", port.tx_bytes.get());
    visit("port", "rx_bursts", port.rx_bursts.get());
    visit("port", "tx_retried", port.tx_retried.get());
    visit("poll", "busy_cycles", poll.busy_cycles.get());
    visit("poll", "total_cycles", poll.total_cycles.get());
    visit("poll", "tsc_hz", poll.tsc_hz.get());
    visit("poll", "iterations_busy", poll.iterations_busy.get());
    visit("poll", "iterations_idle", poll.iterations_idle.get());
    visit("poll", "sleeps", poll.sleeps.get());
    visit("poll", "rx_interrupts", poll.rx_interrupts.get());
    for (std::size_t i = 0; i < protocol_count; ++i) {
        visit(protocol_names[i], "rx", protocol[i].rx.get());
        visit(protocol_names[i], "tx", protocol[i].tx.get());
    }
    visit("arp", "requests_sent", arp_requests_sent.get());
    visit("arp", "replies_sent", arp_replies_sent.get());
    visit("arp", "cache_entries", arp_cache_entries.get());
    for (std::size_t i = 1; i < drop_reason_count; ++i)
        visit("drop", drop_reason_name(DropReason(i)), drops[i].get());
    for (std::size_t i = 0; i < engine_counter_count; ++i) visit("tcp", engine_counter_names[i], engine[i].get());
    visit("tcp", "open_connections", open_connections.get());
    visit("store", "in_flight", store_in_flight.get());
}

}  // namespace bm::dpdk
