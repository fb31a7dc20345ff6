// --transport dpdk: the client side on the project's own stack. A DPDK
// port (any PMD: net_memif, net_tap, a NIC), ARP, IPv4 and the TCP engine
// of the server (tcp::Engine with active open, listening on nothing), so
// the generator pays no kernel cost either: with both ends on net_memif,
// nothing between them is the kernel's.
//
// One polling loop, like the server's: a burst in, each frame through
// Ethernet, ARP / IPv4 / TCP into the engine (whose client sessions answer
// in the same pass), timers, new connections when the scenario has some,
// then one burst out. Connects, replies and the run are bounded as on the
// kernel transport: the engine's SYN retries and idle timeout follow
// --timeout, and --time-limit shuts the engine down.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>

#include "dataplane/dpdk/arp.hpp"
#include "dataplane/dpdk/counters.hpp"
#include "dataplane/dpdk/idle_policy.hpp"
#include "dataplane/dpdk/ipv4.hpp"
#include "dataplane/dpdk/tx_queue.hpp"
#include "harness/mailgun/scenario.hpp"
#include "harness/mailgun/workload.hpp"
#include "tcp/engine.hpp"

struct rte_mbuf;

namespace bm::dpdk {
class Port;
}

namespace bm::mailgun {

// Nanoseconds from the TSC: one instruction, no system call.
class TscClock final : public Clock {
public:
    TscClock();
    std::uint64_t now_ns() const override;

private:
    std::uint64_t start_, hz_, origin_ns_ = 0;
};

class DpdkTransport final : public tcp::Output, public tcp::StorePort, public tcp::EventSink {
public:
    DpdkTransport(const Workload& workload, Tally& tally, dpdk::Port& port);
    ~DpdkTransport();

    void run(Scenario& scenario);

    // tcp::Output
    void emit(const tcp::SegmentOut& segment, std::span<const std::uint8_t> payload_a,
              std::span<const std::uint8_t> payload_b) override;
    // tcp::StorePort: client sessions never use the store.
    void submit(std::uint64_t, apps::StoreRequest) override {}
    // tcp::EventSink: the report says what happened; no log.
    void event(std::string_view, std::string_view, std::string_view, std::string_view) override {}
    bool verbose() const override { return false; }
    void debug(std::uint64_t, std::string_view, std::string_view) override {}

private:
    class Attempt;
    class Hosted;

    bool iteration(std::uint64_t now_ns);  // true when frames came in
    void rest(dpdk::IdlePolicy& idle, bool worked);
    void launch_due(std::uint64_t now_ns);
    void sweep(std::uint64_t now_ns);
    void receive(rte_mbuf* frame);
    void on_arp(std::span<const std::uint8_t> bytes);
    void on_ipv4(rte_mbuf* frame, const dpdk::EthernetHeader& ethernet);
    void send_arp(std::uint16_t operation, const dpdk::MacAddress& target_mac, std::uint32_t target_ip);
    void release_pending(std::uint32_t ip, const dpdk::MacAddress& mac);
    std::optional<std::uint32_t> next_hop(std::uint32_t destination) const;

    const Workload& workload_;
    Tally& tally_;
    dpdk::Port& port_;
    TscClock clock_;
    dpdk::Counters counters_;
    dpdk::Subnet subnet_;
    std::optional<std::uint32_t> gateway_;
    std::uint64_t now_us_ = 0;
    std::uint16_t ip_identification_ = 0;
    dpdk::ArpCache arp_;
    dpdk::ArpPending<rte_mbuf*> arp_pending_;
    dpdk::TxQueue tx_;
    Scenario* scenario_ = nullptr;
    // Before the engine: its sessions (Hosted) point into these.
    std::list<std::unique_ptr<Attempt>> attempts_;
    std::optional<tcp::Engine> engine_;
};

}  // namespace bm::mailgun
