#include "dataplane/dpdk/poll_loop.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <stdexcept>
#include <string>

#include "apps/hosted_session.hpp"
#include "dataplane/dpdk/icmp.hpp"
#include "dataplane/dpdk/tcp_wire.hpp"
#include "dataplane/dpdk/udp.hpp"
#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::dpdk {
namespace {

constexpr std::uint64_t housekeeping_interval_us = 100'000;
// The longest an adaptive loop sleeps without a deadline: what it does not
// track to the microsecond (DNS retransmissions, frames waiting for ARP,
// the shutdown grace period) is served at least this often, as the kernel
// build's 100 ms timer scan does.
constexpr std::uint64_t max_sleep_us = 100'000;
constexpr std::uint64_t shutdown_grace_us = 30'000'000;  // as the kernel build
constexpr std::uint16_t ip_tcp_headers = 40;

std::span<std::uint8_t> bytes_of(rte_mbuf* m) {
    return {rte_pktmbuf_mtod(m, std::uint8_t*), m->data_len};
}

// Where a new frame is built: the whole of a fresh mbuf.
std::span<std::uint8_t> room_of(rte_mbuf* m) {
    return {rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_tailroom(m)};
}

// RX checksum flags: Some(true) verified good, Some(false) bad, nullopt: check in software.
std::optional<bool> rx_verdict(std::uint64_t flags, std::uint64_t mask, std::uint64_t good, std::uint64_t bad) {
    std::uint64_t v = flags & mask;
    if (v == good) return true;
    if (v == bad) return false;
    return std::nullopt;
}

tcp::EngineConfig engine_config(const Options& o, const Port& port, const std::string& tag) {
    tcp::EngineConfig c;
    if (o.tcb_capacity != 0) c.tcb_capacity = o.tcb_capacity;
    c.max_conn_per_service = o.max_conn;
    c.smtp_port = o.smtp_port;
    c.pop3_port = o.pop3_port;
    c.echo_port = o.echo_port;
    c.mss = std::uint16_t(port.mtu() - ip_tcp_headers);
    c.min_mss = o.min_mss;
    c.idle_timeout_s[0] = o.smtp_idle();
    c.idle_timeout_s[1] = o.pop3_idle();
    c.idle_timeout_s[2] = o.echo_idle();
    c.fixed_isn = o.fixed_isn;
    std::random_device random;  // RFC 6528: a secret key, fresh per start
    for (std::uint64_t& word : c.isn_secret) word = (std::uint64_t(random()) << 32) | random();
    c.local_ip = bm::parse_ipv4(o.ip).value_or(0);  // the source of relay connections
    c.services = std::make_shared<const apps::ServiceHost>(host_config(o, tag));
    return c;
}

// MailBackend wants to know whether the token's connection still exists
// (false: it undoes the reply, e.g. unlocks a maildrop). The engine says so,
// and leaves the reply untouched when it does not take it.
bool hand_reply(tcp::Engine& engine, std::uint64_t token, apps::StoreReply& reply, std::uint64_t now_us) {
    return engine.on_store_reply(token, std::move(reply), now_us);
}

}  // namespace

// ---- clock -------------------------------------------------------------------

TscClock::TscClock() : start_(rte_get_tsc_cycles()), hz_(rte_get_tsc_hz()) {}

std::uint64_t TscClock::now_us(std::uint64_t tsc) const {
    std::uint64_t cycles = tsc - start_;
    return cycles / hz_ * 1'000'000 + (cycles % hz_) * 1'000'000 / hz_;
}

// ---- set-up --------------------------------------------------------------------

Addressing addressing(const Options& options) {
    Addressing a;
    a.subnet = {*bm::parse_ipv4(options.ip), options.prefix_len};
    if (!options.gateway.empty()) {
        std::uint32_t gateway = *bm::parse_ipv4(options.gateway);
        if (!a.subnet.on_link(gateway) || gateway == a.subnet.address)
            throw std::runtime_error("--gateway " + options.gateway + " is not another address of " + options.ip +
                                     "/" + std::to_string(options.prefix_len));
        a.gateway = gateway;
    }
    return a;
}

PollLoop::PollLoop(const Options& options, const Addressing& addressing, Port& port, store::MailStore* store,
                   store::IoWorker& worker, EventLog& log, Counters& counters)
    : options_(options),
      port_(port),
      log_(log),
      counters_(counters),
      subnet_(addressing.subnet),
      gateway_(addressing.gateway),
      meter_(counters.poll, clock_.hz()),
      tx_(port.id(), counters),
      worker_(worker),
      backend_(store, worker,
               [this](std::uint64_t token, apps::StoreReply& reply) { return deliver(token, reply); }),
      idle_(options.poll_idle_us) {
    std::string tag = instance_tag();
    engine_.emplace(engine_config(options, port, tag), *this, *this, *this);
    if (store && !options.sink) {
        relay_ = std::make_unique<RelayLink>(options, tag, *store, worker, *engine_, *this, log);
        RelayAgent& agent = relay_->agent();
        backend_.set_on_queued([&agent] { agent.queue_changed(); });
        if (UdpReceiver* dns = relay_->dns()) udp_ports_.bind(*dns);
    }
    if (!options.busy_poll) {
        waiter_.emplace(port.id(), worker.event_fd());
        counters.poll.rx_interrupts.set(waiter_->rx_interrupts());
    }
}

PollLoop::~PollLoop() {
    arp_pending_.clear([](rte_mbuf* m) { rte_pktmbuf_free(m); });
}

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
        if (signals.stop && !stopping) {
            // SPEC: stop accepting, tell every session, finish durable writes.
            stopping = true;
            deadline_us = now_us_ + shutdown_grace_us;
            log_.event("server", "-", "shutdown", "signal");
            if (relay_) relay_->stop();  // starts nothing new; queued recipients stay pending
            engine_->shutdown(now_us_);
            tx_.flush();
        }
        if (stopping && ((engine_->open_connections() == 0 && backend_.in_flight() == 0) || now_us_ > deadline_us))
            break;
        if (waiter_) rest(worked);
    }
    signals.wake_fd = -1;
    if (relay_) relay_->poll(now_us_);  // cut sessions' results reach the queue files
    worker_.stop();  // every submitted job finishes (no accepted message is lost)
    backend_.poll();
    for (int tries = 0; tries < 1000 && !tx_.empty(); ++tries) tx_.flush();
    housekeeping();
    report(true);
    log_.event("server", "-", "stop", engine_->open_connections() == 0 ? "ok" : "grace period over");
    return 0;
}

bool PollLoop::iteration() {
    std::uint64_t tsc = rte_rdtsc();  // the one TSC read: clock and cycle meter
    meter_.lap(tsc, worked_);
    now_us_ = clock_.now_us(tsc);
    rte_mbuf* frames[burst_size];
    std::uint16_t n = rte_eth_rx_burst(port_.id(), 0, frames, burst_size);
    if (n > 0) counters_.port.rx_bursts.add();
    for (std::uint16_t i = 0; i < n; ++i) {
        if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(frames[i + 1], void*));
        receive(frames[i]);
    }
    bool worked = n > 0;
    worked |= engine_->on_timers(now_us_) > 0;
    worked |= backend_.poll() > 0;
    if (relay_) relay_->poll(now_us_);
    if (!arp_pending_.empty())
        arp_pending_.expire(now_us_, arp_.timing().pending_timeout_us, [this](rte_mbuf* m) {
            rte_pktmbuf_free(m);
            counters_.drop(DropReason::arp_unresolved);
        });
    worked |= !tx_.empty();  // frames to send, or left over from a refused burst
    tx_.flush();
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
    counters_.arp_cache_entries.set(arp_.resolved_entries());
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

// ---- receive path ---------------------------------------------------------------

void PollLoop::receive(rte_mbuf* frame) {
    counters_.port.rx_packets.add();
    counters_.port.rx_bytes.add(frame->pkt_len);
    bool kept = false;
    EthernetHeader ethernet;
    DropReason why = frame->nb_segs != 1 ? DropReason::multi_segment : parse_ethernet(bytes_of(frame), ethernet);
    if (why == DropReason::none && !addressed_to(ethernet.destination, port_.mac())) why = DropReason::eth_not_for_us;
    if (why == DropReason::none) {
        counters_.rx(Protocol::ethernet);
        auto payload = bytes_of(frame).subspan(ethernet_header_size);
        if (ethernet.ethertype == ethertype_arp) kept = on_arp(payload);
        else if (ethernet.ethertype == ethertype_ipv4) kept = on_ipv4(frame, ethernet);
        else why = DropReason::eth_unknown_type;
    }
    if (why != DropReason::none) counters_.drop(why);
    if (!kept) rte_pktmbuf_free(frame);
}

// RFC 826 "Packet Reception": merge the sender into the cache if known; if
// the packet is for us, add it, and answer a request.
bool PollLoop::on_arp(std::span<const std::uint8_t> bytes) {
    ArpPacket packet;
    if (DropReason why = parse_arp(bytes, packet); why != DropReason::none) {
        counters_.drop(why);
        return false;
    }
    counters_.rx(Protocol::arp);
    bool for_us = packet.target_ip == subnet_.address;
    if (packet.sender_ip != 0 && subnet_.on_link(packet.sender_ip)) {  // 0: an RFC 5227 probe
        arp_.update(packet.sender_ip, packet.sender_mac, now_us_, for_us);
        if (!arp_pending_.empty()) release_pending(packet.sender_ip, packet.sender_mac);
    }
    if (!for_us) {
        counters_.drop(DropReason::arp_not_for_us);
        return false;
    }
    if (packet.operation == arp_request) send_arp(arp_reply, packet.sender_mac, packet.sender_ip);
    return false;
}

bool PollLoop::on_ipv4(rte_mbuf* frame, const EthernetHeader& ethernet) {
    auto bytes = bytes_of(frame).subspan(ethernet_header_size);
    auto verdict = rx_verdict(frame->ol_flags, RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
                              RTE_MBUF_F_RX_IP_CKSUM_BAD);
    Ipv4Packet ip;
    DropReason why = verdict == false ? DropReason::ip_bad_checksum : parse_ipv4(bytes, !verdict, ip);
    if (why == DropReason::none) {
        if (ip.destination != subnet_.address) why = DropReason::ip_not_for_us;
        else if (is_martian_source(ip.source) || ip.source == subnet_.directed_broadcast())
            why = DropReason::ip_bad_source;
    }
    if (why != DropReason::none) {
        counters_.drop(why);
        return false;
    }
    counters_.rx(Protocol::ipv4);
    // The source MAC of an IPv4 frame is never learnt: anyone on the link
    // can claim any source address (the gateway's included), and only ARP
    // (RFC 826, on_arp) may bind an address to a MAC.
    switch (ip.protocol) {
    case ip_protocol_icmp: return on_icmp(frame, ethernet, ip);
    case ip_protocol_tcp: on_tcp(frame, ip); return false;
    case ip_protocol_udp: on_udp(frame, ip); return false;
    default: counters_.drop(DropReason::ip_unknown_protocol); return false;
    }
}

// RFC 1122 §3.2.2.6: the reply carries the request's data back; it is
// built in the request's own mbuf (addresses swapped, new checksums). A
// request's IP options are not sent back (the RFC's SHOULD for record route
// and timestamp is not implemented): the message moves up to follow a
// plain 20-octet header.
bool PollLoop::on_icmp(rte_mbuf* frame, const EthernetHeader& ethernet, const Ipv4Packet& ip) {
    std::uint8_t* start = rte_pktmbuf_mtod(frame, std::uint8_t*);
    std::uint8_t* after_header = start + ethernet_header_size + ipv4_header_size;
    if (ip.header_length > ipv4_header_size) std::memmove(after_header, ip.payload.data(), ip.payload.size());
    std::span<std::uint8_t> message(after_header, ip.payload.size());
    DropReason why = answer_echo_request(message);
    if (why == DropReason::none || why == DropReason::icmp_not_echo_request) counters_.rx(Protocol::icmp);
    if (why != DropReason::none) {
        counters_.drop(why);
        return false;
    }
    std::span<std::uint8_t> header(start + ethernet_header_size, ipv4_header_size);
    emit_ipv4(header, {ip.destination, ip.source, ip_protocol_icmp, std::uint16_t(message.size()),
                       ip_identification_++, true});
    emit_ethernet({start, ethernet_header_size}, {ethernet.source, port_.mac(), ethertype_ipv4});
    rte_pktmbuf_trim(frame, std::uint16_t(frame->data_len - (ethernet_header_size + ipv4_header_size + message.size())));
    frame->ol_flags = 0;
    counters_.tx(Protocol::icmp);
    counters_.tx(Protocol::ipv4);
    tx_.stage(frame);
    return true;
}

// RFC 1122 §4.1.3.1 says a datagram for a port nobody listens on SHOULD
// draw an ICMP port unreachable; we only count it (udp_no_service). The one
// UDP service is the relay's DNS client, whose ports close as soon as their
// query ends: each late duplicate answer would draw an ICMP message, and
// without a rate limit every spoofed datagram would make us a reflector.
void PollLoop::on_udp(rte_mbuf* frame, const Ipv4Packet& ip) {
    auto verdict = rx_verdict(frame->ol_flags, RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                              RTE_MBUF_F_RX_L4_CKSUM_BAD);
    UdpDatagram datagram;
    DropReason why = verdict == false ? DropReason::udp_bad_checksum
                                      : parse_udp(ip.payload, ip.source, ip.destination, !verdict, datagram);
    if (why == DropReason::none) {
        counters_.rx(Protocol::udp);
        if (udp_ports_.deliver(ip.source, datagram)) return;
        why = DropReason::udp_no_service;
    }
    counters_.drop(why);
}

void PollLoop::on_tcp(rte_mbuf* frame, const Ipv4Packet& ip) {
    auto verdict = rx_verdict(frame->ol_flags, RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_GOOD,
                              RTE_MBUF_F_RX_L4_CKSUM_BAD);
    tcp::SegmentIn segment;
    DropReason why = verdict == false ? DropReason::tcp_bad_checksum
                                      : parse_tcp(ip.payload, ip.source, ip.destination, !verdict, segment);
    if (why != DropReason::none) {
        counters_.drop(why);
        return;
    }
    counters_.rx(Protocol::tcp);
    engine_->on_segment(segment, now_us_);
}

// ---- transmit path -----------------------------------------------------------------

std::optional<std::uint32_t> PollLoop::next_hop(std::uint32_t destination) const {
    if (subnet_.on_link(destination)) return destination;
    return gateway_;
}

rte_mbuf* PollLoop::new_frame() {
    rte_mbuf* frame = rte_pktmbuf_alloc(port_.pool());
    if (!frame) counters_.drop(DropReason::tx_no_mbuf);
    return frame;
}

// What the NIC computes is asked per frame; without offload the frame
// already carries every checksum.
void PollLoop::set_offload_flags(rte_mbuf* frame, bool ip_checksum, std::uint64_t l4_checksum) {
    if (!ip_checksum && l4_checksum == 0) return;
    frame->l2_len = ethernet_header_size;
    frame->l3_len = ipv4_header_size;
    frame->ol_flags = RTE_MBUF_F_TX_IPV4 | (ip_checksum ? RTE_MBUF_F_TX_IP_CKSUM : 0) | l4_checksum;
}

// RFC 1122 §2.3.2.2: a frame for a next hop not yet resolved is kept
// until the ARP reply comes (release_pending), or dropped, counted.
void PollLoop::transmit(rte_mbuf* frame, std::uint32_t hop, const ArpCache::Lookup& mac) {
    if (mac.mac) return tx_.stage(frame);
    if (!arp_pending_.push(hop, frame, now_us_)) {
        rte_pktmbuf_free(frame);
        counters_.drop(DropReason::arp_pending_full);
    }
    if (mac.send_request) send_arp(arp_request, MacAddress{}, hop);
}

void PollLoop::emit(const tcp::SegmentOut& segment, std::span<const std::uint8_t> payload_a,
                    std::span<const std::uint8_t> payload_b) {
    std::optional<std::uint32_t> hop = next_hop(segment.tuple.remote_ip);
    if (!hop) return counters_.drop(DropReason::tx_no_route);
    rte_mbuf* frame = new_frame();
    if (!frame) return;
    ArpCache::Lookup mac = arp_.lookup(*hop, now_us_);
    FrameEnds ends{port_.mac(), mac.mac.value_or(MacAddress{}), ip_identification_++};
    ChecksumOffload offload = port_.tx_offload();
    std::size_t length = emit_tcp_frame(room_of(frame), ends, segment, payload_a, payload_b, offload);
    if (length == 0) {
        rte_pktmbuf_free(frame);
        return counters_.drop(DropReason::tx_too_big);
    }
    rte_pktmbuf_append(frame, std::uint16_t(length));
    set_offload_flags(frame, offload.ipv4, offload.tcp ? RTE_MBUF_F_TX_TCP_CKSUM : 0);
    counters_.tx(Protocol::tcp);
    counters_.tx(Protocol::ipv4);
    transmit(frame, *hop, mac);
}

bool PollLoop::send_udp(std::uint16_t local_port, std::uint32_t destination, std::uint16_t destination_port,
                        std::span<const std::uint8_t> payload) {
    std::optional<std::uint32_t> hop = next_hop(destination);
    if (!hop) {
        counters_.drop(DropReason::tx_no_route);
        return false;
    }
    rte_mbuf* frame = new_frame();
    if (!frame) return false;
    ArpCache::Lookup mac = arp_.lookup(*hop, now_us_);
    FrameEnds ends{port_.mac(), mac.mac.value_or(MacAddress{}), ip_identification_++};
    ChecksumOffload offload = port_.tx_offload();
    UdpEmit header{subnet_.address, destination, local_port, destination_port};
    std::size_t length = emit_udp_frame(room_of(frame), ends, header, payload, offload);
    if (length == 0) {
        rte_pktmbuf_free(frame);
        counters_.drop(DropReason::tx_too_big);
        return false;
    }
    rte_pktmbuf_append(frame, std::uint16_t(length));
    set_offload_flags(frame, offload.ipv4, offload.udp ? RTE_MBUF_F_TX_UDP_CKSUM : 0);
    counters_.tx(Protocol::udp);
    counters_.tx(Protocol::ipv4);
    transmit(frame, *hop, mac);
    return true;
}

void PollLoop::release_pending(std::uint32_t ip, const MacAddress& mac) {
    arp_pending_.resolve(ip, [&](rte_mbuf* frame) {
        emit_ethernet({rte_pktmbuf_mtod(frame, std::uint8_t*), ethernet_header_size},
                      {mac, port_.mac(), ethertype_ipv4});
        tx_.stage(frame);
    });
}

void PollLoop::send_arp(std::uint16_t operation, const MacAddress& target_mac, std::uint32_t target_ip) {
    rte_mbuf* frame = rte_pktmbuf_alloc(port_.pool());
    if (!frame) return counters_.drop(DropReason::tx_no_mbuf);
    auto* p = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(frame, ethernet_min_frame));
    std::span<std::uint8_t> bytes(p, ethernet_min_frame);
    std::fill(bytes.begin(), bytes.end(), 0);  // padding to the minimum frame
    MacAddress destination = operation == arp_request ? MacAddress::broadcast() : target_mac;
    emit_ethernet(bytes, {destination, port_.mac(), ethertype_arp});
    emit_arp(bytes.subspan(ethernet_header_size), {operation, port_.mac(), subnet_.address, target_mac, target_ip});
    counters_.tx(Protocol::arp);
    (operation == arp_request ? counters_.arp_requests_sent : counters_.arp_replies_sent).add();
    tx_.stage(frame);
}

bool PollLoop::deliver(std::uint64_t token, apps::StoreReply& reply) {
    return hand_reply(*engine_, token, reply, now_us_);
}

// ---- the engine's other ports ---------------------------------------------------------

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
