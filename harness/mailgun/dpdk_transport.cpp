#include "harness/mailgun/dpdk_transport.hpp"

#include "dataplane/dpdk/mbuf_view.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <thread>

#include <sys/prctl.h>
#include <unistd.h>

#include "dataplane/dpdk/idle_policy.hpp"
#include "dataplane/dpdk/port.hpp"
#include "dataplane/dpdk/tcp_wire.hpp"
#include "harness/mailgun/stop_signal.hpp"

namespace bm::mailgun {

using dpdk::bytes_of;
using dpdk::room_of;
using dpdk::rx_verdict;

namespace {

constexpr std::uint16_t burst_size = 32;
constexpr std::uint16_t ip_tcp_headers = 40;
// After the time limit, how long the engine gets to send the sessions'
// last words and FINs.
constexpr std::uint64_t shutdown_grace_ns = 1'000'000'000;
// --poll adaptive: the server's idle policy (dataplane/dpdk/idle_policy.hpp)
// — busy-poll for this long after the last frame, then sleep in steps of
// half the idle time (50 µs to 1 ms; net_memif cannot wake us). On a
// machine whose cores the server's I/O threads share with us, a generator
// spinning while a reply waits for the server's fsync takes the CPU that
// fsync needs.
constexpr std::uint64_t idle_spell_us = 100;
// The server's steps grow to 1 ms; ours stop here: every microsecond a
// reply waits for us is latency measured, and a server that was
// descheduled for milliseconds answers as soon as it runs again.
constexpr std::uint64_t max_sleep_us = 200;
// Sleeps this close to their length (the default timer slack is 50 µs).
constexpr unsigned long timer_slack_ns = 5'000;

void sleep_for_us(std::uint64_t us) {
    timespec t{time_t(us / 1'000'000), long(us % 1'000'000 * 1000)};
    clock_nanosleep(CLOCK_MONOTONIC, 0, &t, nullptr);
}


// The engine's SYN retransmissions back off from 1 s (RFC 6298 (2.1),
// (5.5)): with r retries the open fails after 2^(r+1) - 1 s. As many as
// fit in --timeout.
std::uint8_t syn_retries_within(double timeout_s) {
    std::uint8_t retries = 0;
    while (retries < 6 && std::pow(2.0, retries + 2) - 1 <= timeout_s) ++retries;
    return retries;
}

ErrorKind failure_kind(std::string_view reason) {
    if (reason == "connection refused") return ErrorKind::connect_refused;
    if (reason == "connection timed out") return ErrorKind::timeout;
    if (reason == "shutdown") return ErrorKind::unfinished;
    return ErrorKind::connect_failed;
}

tcp::EngineConfig client_engine(const Workload& w, const dpdk::Port& port) {
    tcp::EngineConfig c;
    c.smtp_port = c.pop3_port = c.echo_port = 0;  // a client: nothing listens
    c.mss = static_cast<std::uint16_t>(port.mtu() - ip_tcp_headers);
    c.local_ip = w.local_ip;
    c.syn_retries = syn_retries_within(w.timeout_s);
    c.client_idle_timeout_s = static_cast<std::uint32_t>(std::max(1.0, std::ceil(w.timeout_s)));
    // One fixed key, not a fresh one per run: with the clock below the ISN
    // of a 4-tuple keeps growing from run to run (RFC 6528 M + F with F
    // constant), so a SYN for a port whose previous connection is still in
    // the server's TIME-WAIT is taken as a new incarnation (RFC 9293
    // §3.10.7.4) instead of being dropped and retried a second later. A
    // load generator's ISNs need no secrecy.
    c.isn_secret[0] = c.isn_secret[1] = 0;
    return c;
}

}  // namespace

// ---- clock --------------------------------------------------------------

// Anchored to the wall clock, so the engine's time (and with it the ISN
// clock M) goes on from one run to the next instead of restarting at 0.
TscClock::TscClock() : start_(rte_rdtsc()), hz_(rte_get_tsc_hz()) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    origin_ns_ = std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

std::uint64_t TscClock::now_ns() const {
    auto cycles = static_cast<unsigned __int128>(rte_rdtsc() - start_);
    return origin_ns_ + static_cast<std::uint64_t>(cycles * 1'000'000'000u / hz_);
}

// ---- one connection ------------------------------------------------------

// The caller of Engine::connect for one launch: it builds the client
// session once ESTABLISHED, or reports the failed open. It lives until the
// connection is over (its session gone), then the loop sweeps it.
class DpdkTransport::Attempt final : public tcp::ActiveOpenHandler {
public:
    Attempt(DpdkTransport& transport, const Launch& launch) : transport_(transport), launch_(launch) {}

    std::unique_ptr<apps::Session> on_established(const tcp::SessionHost& host) override;
    void on_failed(std::string_view reason) override {
        transport_.scenario_->on_connect_failed(launch_, failure_kind(reason));
        done_ = true;
    }

    const Launch& launch() const { return launch_; }
    bool done() const { return done_; }
    bool established() const { return established_; }
    void session_gone() { done_ = true; }

private:
    DpdkTransport& transport_;
    Launch launch_;
    bool established_ = false;
    bool done_ = false;
};

// The engine owns a connection's session and destroys it when the
// connection is over: this wrapper tells the Attempt when that happens.
class DpdkTransport::Hosted final : public apps::Session {
public:
    Hosted(std::unique_ptr<ClientSession> session, Attempt& attempt)
        : session_(std::move(session)), attempt_(attempt) {}
    ~Hosted() override { attempt_.session_gone(); }

    void start() override { session_->start(); }
    std::size_t on_bytes(std::string_view bytes) override { return session_->on_bytes(bytes); }
    void on_store_reply(apps::StoreReply reply) override { session_->on_store_reply(std::move(reply)); }
    void on_wakeup() override { session_->on_wakeup(); }
    void on_writable() override { session_->on_writable(); }
    void on_idle_timeout() override { session_->on_idle_timeout(); }
    void on_shutdown() override { session_->on_shutdown(); }
    void on_peer_closed() override { session_->on_peer_closed(); }
    bool waiting() const override { return session_->waiting(); }

private:
    std::unique_ptr<ClientSession> session_;
    Attempt& attempt_;
};

std::unique_ptr<apps::Session> DpdkTransport::Attempt::on_established(const tcp::SessionHost& host) {
    established_ = true;
    auto session = transport_.scenario_->open_session(launch_, host.transport, transport_.clock_);
    return std::make_unique<Hosted>(std::move(session), *this);
}

// ---- set-up and loop -----------------------------------------------------

DpdkTransport::DpdkTransport(const Workload& workload, Tally& tally, dpdk::Port& port)
    : workload_(workload),
      tally_(tally),
      port_(port),
      subnet_{workload.local_ip, workload.prefix_len},
      tx_(port.id(), counters_) {
    if (workload.gateway) gateway_ = workload.gateway;
    engine_.emplace(client_engine(workload, port), *this, *this, *this);
}

DpdkTransport::~DpdkTransport() {
    engine_.reset();  // its sessions tell their attempts, which are still here
    arp_pending_.clear([](rte_mbuf* m) { rte_pktmbuf_free(m); });
}

void DpdkTransport::run(Scenario& scenario) {
    scenario_ = &scenario;
    std::uint64_t start = clock_.now_ns();
    scenario.begin(start);
    std::uint64_t limit = start + static_cast<std::uint64_t>(workload_.time_limit_s * 1e9);
    tally_.started_ns = tally_.ended_ns = start;
    std::uint64_t stop_by = 0;  // 0: not stopping
    dpdk::IdlePolicy idle(idle_spell_us);
    if (!workload_.busy_poll) prctl(PR_SET_TIMERSLACK, timer_slack_ns);
    for (;;) {
        std::uint64_t now = clock_.now_ns();
        bool worked = iteration(now);
        if (!workload_.busy_poll) rest(idle, worked);
        if (!stop_by && (now >= limit || stop_requested())) {
            // As SIGTERM for the server: every session is told (and counts
            // itself unfinished), opens still in SYN-SENT fail.
            stop_by = now + shutdown_grace_ns;
            engine_->shutdown(now_us_);
            scenario.on_time_limit();
            tx_.flush();
        }
        if (!stop_by) launch_due(now);
        bool idle = attempts_.empty();
        if (idle && (stop_by || scenario.exhausted(now) || scenario.next_launch_time() == UINT64_MAX)) break;
        if (stop_by && now >= stop_by) break;
        // Nothing open and the next start is later (a replay's spacing):
        // no need to spin.
        if (idle && scenario.next_launch_time() > now + 1'000'000) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    // Opens the grace period did not see end count as unfinished.
    for (auto& attempt : attempts_)
        if (!attempt->done() && !attempt->established()) scenario.on_connect_failed(attempt->launch(), ErrorKind::unfinished);
    for (int tries = 0; tries < 100 && !tx_.empty(); ++tries) tx_.flush();
}

// --poll adaptive: sleep when the policy says so, never past the engine's
// next timer (arming is for rx interrupts, which net_memif lacks).
void DpdkTransport::rest(dpdk::IdlePolicy& idle, bool worked) {
    if (idle.after(worked, now_us_) != dpdk::IdleStep::sleep) return;
    std::uint64_t us = dpdk::sleep_us(now_us_, engine_->next_timer_us(),
                                      std::min(idle.blind_sleep_us(now_us_), max_sleep_us));
    if (us) sleep_for_us(us);
}

bool DpdkTransport::iteration(std::uint64_t now_ns) {
    now_us_ = now_ns / 1000;
    rte_mbuf* frames[burst_size];
    std::uint16_t n = rte_eth_rx_burst(port_.id(), 0, frames, burst_size);
    for (std::uint16_t i = 0; i < n; ++i) {
        receive(frames[i]);
        rte_pktmbuf_free(frames[i]);
    }
    engine_->on_timers(now_us_);
    if (!arp_pending_.empty())
        arp_pending_.expire(now_us_, arp_.timing().pending_timeout_us, [this](rte_mbuf* m) {
            rte_pktmbuf_free(m);
            counters_.drop(dpdk::DropReason::arp_unresolved);
        });
    tx_.flush();
    sweep(now_ns);
    return n > 0;
}

void DpdkTransport::launch_due(std::uint64_t now_ns) {
    while (auto launch = scenario_->next_launch(now_ns)) {
        attempts_.push_back(std::make_unique<Attempt>(*this, *launch));
        tcp::ConnectResult result = engine_->connect({launch->ip, launch->port, 0}, *attempts_.back(), now_us_);
        if (!result) {
            // No TCB or local port free, no route: a failed open (the
            // handler is not called).
            scenario_->on_connect_failed(*launch, ErrorKind::connect_failed);
            attempts_.back()->session_gone();
        }
    }
    tx_.flush();
}

// Connections that are over give their slot back (outside the engine's
// callbacks).
void DpdkTransport::sweep(std::uint64_t now_ns) {
    for (auto it = attempts_.begin(); it != attempts_.end();) {
        if (!(*it)->done()) {
            ++it;
            continue;
        }
        scenario_->on_closed((*it)->launch(), now_ns);
        tally_.ended_ns = now_ns;
        it = attempts_.erase(it);
    }
}

// ---- frames in -------------------------------------------------------------
// The server's receive path (dataplane/dpdk/poll_loop.cpp) without ICMP,
// UDP and the store: Ethernet, ARP, IPv4 for our address, TCP to the engine.

void DpdkTransport::receive(rte_mbuf* frame) {
    dpdk::EthernetHeader ethernet;
    dpdk::DropReason why = frame->nb_segs != 1 ? dpdk::DropReason::multi_segment
                                               : dpdk::parse_ethernet(bytes_of(frame), ethernet);
    if (why == dpdk::DropReason::none && !dpdk::addressed_to(ethernet.destination, port_.mac()))
        why = dpdk::DropReason::eth_not_for_us;
    if (why != dpdk::DropReason::none) return counters_.drop(why);
    auto payload = bytes_of(frame).subspan(dpdk::ethernet_header_size);
    if (ethernet.ethertype == dpdk::ethertype_arp) return on_arp(payload);
    if (ethernet.ethertype == dpdk::ethertype_ipv4) return on_ipv4(frame, ethernet);
    counters_.drop(dpdk::DropReason::eth_unknown_type);
}

// RFC 826 "Packet Reception".
void DpdkTransport::on_arp(std::span<const std::uint8_t> bytes) {
    dpdk::ArpPacket packet;
    if (dpdk::parse_arp(bytes, packet) != dpdk::DropReason::none) return;
    bool for_us = packet.target_ip == subnet_.address;
    if (packet.sender_ip != 0 && subnet_.on_link(packet.sender_ip)) {
        arp_.update(packet.sender_ip, packet.sender_mac, now_us_, for_us);
        if (!arp_pending_.empty()) release_pending(packet.sender_ip, packet.sender_mac);
    }
    if (for_us && packet.operation == dpdk::arp_request)
        send_arp(dpdk::arp_reply, packet.sender_mac, packet.sender_ip);
}

void DpdkTransport::on_ipv4(rte_mbuf* frame, const dpdk::EthernetHeader& ethernet) {
    auto bytes = bytes_of(frame).subspan(dpdk::ethernet_header_size);
    auto ip_verdict = rx_verdict(frame->ol_flags, RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
                                 RTE_MBUF_F_RX_IP_CKSUM_BAD);
    dpdk::Ipv4Packet ip;
    if (ip_verdict == false || dpdk::parse_ipv4(bytes, !ip_verdict, ip) != dpdk::DropReason::none) return;
    if (ip.destination != subnet_.address || ip.protocol != dpdk::ip_protocol_tcp) return;
    if (subnet_.on_link(ip.source)) {
        arp_.learn(ip.source, ethernet.source, now_us_);
        if (!arp_pending_.empty()) release_pending(ip.source, ethernet.source);
    }
    auto l4_verdict = rx_verdict(frame->ol_flags, RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                                 RTE_MBUF_F_RX_L4_CKSUM_BAD);
    tcp::SegmentIn segment;
    if (l4_verdict == false ||
        dpdk::parse_tcp(ip.payload, ip.source, ip.destination, !l4_verdict, segment) != dpdk::DropReason::none)
        return counters_.drop(dpdk::DropReason::tcp_bad_checksum);
    engine_->on_segment(segment, now_us_);
}

// ---- frames out ------------------------------------------------------------

std::optional<std::uint32_t> DpdkTransport::next_hop(std::uint32_t destination) const {
    if (subnet_.on_link(destination)) return destination;
    return gateway_;
}

// RFC 1122 §2.3.2.2: a segment for a next hop not yet resolved waits for
// the ARP reply (bounded, counted when dropped).
void DpdkTransport::emit(const tcp::SegmentOut& segment, std::span<const std::uint8_t> payload_a,
                         std::span<const std::uint8_t> payload_b) {
    std::optional<std::uint32_t> hop = next_hop(segment.tuple.remote_ip);
    if (!hop) return counters_.drop(dpdk::DropReason::tx_no_route);
    rte_mbuf* frame = rte_pktmbuf_alloc(port_.pool());
    if (!frame) return counters_.drop(dpdk::DropReason::tx_no_mbuf);
    dpdk::ArpCache::Lookup mac = arp_.lookup(*hop, now_us_);
    dpdk::FrameEnds ends{port_.mac(), mac.mac.value_or(dpdk::MacAddress{}), ip_identification_++};
    dpdk::ChecksumOffload offload = port_.tx_offload();
    std::size_t length = dpdk::emit_tcp_frame(room_of(frame), ends, segment, payload_a, payload_b, offload);
    if (length == 0) {
        rte_pktmbuf_free(frame);
        return counters_.drop(dpdk::DropReason::tx_too_big);
    }
    rte_pktmbuf_append(frame, static_cast<std::uint16_t>(length));
    if (offload.ipv4 || offload.tcp) {
        frame->l2_len = dpdk::ethernet_header_size;
        frame->l3_len = dpdk::ipv4_header_size;
        frame->ol_flags = RTE_MBUF_F_TX_IPV4 | (offload.ipv4 ? RTE_MBUF_F_TX_IP_CKSUM : 0) |
                          (offload.tcp ? RTE_MBUF_F_TX_TCP_CKSUM : 0);
    }
    if (mac.mac) return tx_.stage(frame);
    if (!arp_pending_.push(*hop, frame, now_us_)) {
        rte_pktmbuf_free(frame);
        counters_.drop(dpdk::DropReason::arp_pending_full);
    }
    if (mac.send_request) send_arp(dpdk::arp_request, dpdk::MacAddress{}, *hop);
}

void DpdkTransport::release_pending(std::uint32_t ip, const dpdk::MacAddress& mac) {
    arp_pending_.resolve(ip, [&](rte_mbuf* frame) {
        dpdk::emit_ethernet({rte_pktmbuf_mtod(frame, std::uint8_t*), dpdk::ethernet_header_size},
                            {mac, port_.mac(), dpdk::ethertype_ipv4});
        tx_.stage(frame);
    });
}

void DpdkTransport::send_arp(std::uint16_t operation, const dpdk::MacAddress& target_mac, std::uint32_t target_ip) {
    rte_mbuf* frame = rte_pktmbuf_alloc(port_.pool());
    if (!frame) return counters_.drop(dpdk::DropReason::tx_no_mbuf);
    auto* p = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(frame, dpdk::ethernet_min_frame));
    std::span<std::uint8_t> bytes(p, dpdk::ethernet_min_frame);
    std::fill(bytes.begin(), bytes.end(), 0);
    dpdk::MacAddress destination = operation == dpdk::arp_request ? dpdk::MacAddress::broadcast() : target_mac;
    dpdk::emit_ethernet(bytes, {destination, port_.mac(), dpdk::ethertype_arp});
    dpdk::emit_arp(bytes.subspan(dpdk::ethernet_header_size),
                   {operation, port_.mac(), subnet_.address, target_mac, target_ip});
    tx_.stage(frame);
}

}  // namespace bm::mailgun
