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
// It is also the engine's environment: tcp::Output (segments become
// frames), tcp::StorePort (requests go to the I/O worker through
// MailBackend) and tcp::EventSink (the event log); and the UDP services'
// (UdpSender: datagrams become frames by the same next-hop and ARP path).
#pragma once

#include <csignal>
#include <cstdint>
#include <optional>

#include "dataplane/common/event_log.hpp"
#include "dataplane/common/mail_backend.hpp"
#include "dataplane/common/options.hpp"
#include "dataplane/dpdk/arp.hpp"
#include "dataplane/dpdk/counters.hpp"
#include "dataplane/dpdk/cycle_meter.hpp"
#include "dataplane/dpdk/ethernet.hpp"
#include "dataplane/dpdk/idle_policy.hpp"
#include "dataplane/dpdk/ipv4.hpp"
#include "dataplane/dpdk/port.hpp"
#include "dataplane/dpdk/relay_link.hpp"
#include "dataplane/dpdk/rx_waiter.hpp"
#include "dataplane/dpdk/tx_queue.hpp"
#include "dataplane/dpdk/udp_ports.hpp"
#include "tcp/engine.hpp"

struct rte_mbuf;

namespace bm::dpdk {

// Set by the signal handlers (main.cpp), read by the loop each iteration.
struct SignalFlags {
    volatile std::sig_atomic_t stop = 0;    // SIGTERM, SIGINT
    volatile std::sig_atomic_t report = 0;  // SIGUSR1: print the counters
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

// Our address, subnet and gateway from --ip/--gateway. Throws
// std::runtime_error when the gateway is not on our subnet (checked before
// the EAL starts, so a bad combination touches nothing).
struct Addressing {
    Subnet subnet;
    std::optional<std::uint32_t> gateway;
};
Addressing addressing(const Options& options);

class PollLoop final : public tcp::Output, public tcp::StorePort, public tcp::EventSink, public UdpSender {
public:
    PollLoop(const Options& options, const Addressing& addressing, Port& port, store::MailStore* store,
             store::IoWorker& worker, EventLog& log, Counters& counters);
    ~PollLoop();

    // Serves until a stop signal, then shuts down as SPEC says (sessions
    // told, durable writes finished, bounded). Returns the exit code.
    int run(SignalFlags& signals);

    // tcp::Output
    void emit(const tcp::SegmentOut& segment, std::span<const std::uint8_t> payload_a,
              std::span<const std::uint8_t> payload_b) override;
    // tcp::StorePort
    void submit(std::uint64_t token, apps::StoreRequest request) override;
    // tcp::EventSink
    void event(std::string_view service, std::string_view peer, std::string_view event,
               std::string_view detail) override;
    bool verbose() const override;
    void debug(std::uint64_t connection, std::string_view prefix, std::string_view text) override;
    // UdpSender
    bool send_udp(std::uint16_t local_port, std::uint32_t destination, std::uint16_t destination_port,
                  std::span<const std::uint8_t> payload) override;

private:
    static constexpr std::uint16_t burst_size = 32;

    // True when the iteration did work (see PollCounters).
    bool iteration();
    void rest(bool worked);
    std::uint64_t wake_at_us() const;
    void receive(rte_mbuf* frame);
    // Each returns true when it kept the mbuf (reused it for a reply).
    bool on_arp(std::span<const std::uint8_t> bytes);
    bool on_ipv4(rte_mbuf* frame, const EthernetHeader& ethernet);
    bool on_icmp(rte_mbuf* frame, const EthernetHeader& ethernet, const Ipv4Packet& ip);
    void on_udp(rte_mbuf* frame, const Ipv4Packet& ip);
    void on_tcp(rte_mbuf* frame, const Ipv4Packet& ip);

    std::optional<std::uint32_t> next_hop(std::uint32_t destination) const;
    rte_mbuf* new_frame();
    void set_offload_flags(rte_mbuf* frame, bool ip_checksum, std::uint64_t l4_checksum);
    void transmit(rte_mbuf* frame, std::uint32_t hop, const ArpCache::Lookup& mac);
    void send_arp(std::uint16_t operation, const MacAddress& target_mac, std::uint32_t target_ip);
    void release_pending(std::uint32_t ip, const MacAddress& mac);
    bool deliver(std::uint64_t token, apps::StoreReply& reply);
    void housekeeping();
    void report(bool nonzero_drops_only);

    const Options& options_;
    Port& port_;
    EventLog& log_;
    Counters& counters_;
    const Subnet subnet_;
    const std::optional<std::uint32_t> gateway_;
    TscClock clock_;
    CycleMeter meter_;
    bool worked_ = false;  // by the last iteration
    std::uint64_t now_us_ = 0;
    std::uint64_t next_housekeeping_us_ = 0;
    std::uint16_t ip_identification_ = 0;

    ArpCache arp_;
    ArpPending<rte_mbuf*> arp_pending_;
    TxQueue tx_;
    UdpPorts udp_ports_;
    store::IoWorker& worker_;
    MailBackend backend_;
    std::optional<tcp::Engine> engine_;
    std::unique_ptr<RelayLink> relay_;  // after the engine: its sessions report here
    IdlePolicy idle_;
    std::optional<RxWaiter> waiter_;    // --poll adaptive
};

}  // namespace bm::dpdk
