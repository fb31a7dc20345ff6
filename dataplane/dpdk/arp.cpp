#include "dataplane/dpdk/arp.hpp"

#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::dpdk {
namespace {

constexpr std::uint16_t hardware_ethernet = 1;

void load_mac(const std::uint8_t* p, MacAddress& mac) {
    for (std::size_t i = 0; i < 6; ++i) mac.bytes[i] = p[i];
}

void store_mac(std::uint8_t* p, const MacAddress& mac) {
    for (std::size_t i = 0; i < 6; ++i) p[i] = mac.bytes[i];
}

}  // namespace

DropReason parse_arp(std::span<const std::uint8_t> bytes, ArpPacket& out) {
    if (bytes.size() < arp_packet_size) return DropReason::arp_truncated;
    const std::uint8_t* p = bytes.data();
    if (load_be16(p) != hardware_ethernet || load_be16(p + 2) != ethertype_ipv4 || p[4] != 6 || p[5] != 4)
        return DropReason::arp_unsupported;
    out.operation = load_be16(p + 6);
    if (out.operation != arp_request && out.operation != arp_reply) return DropReason::arp_unsupported;
    load_mac(p + 8, out.sender_mac);
    out.sender_ip = load_be32(p + 14);
    load_mac(p + 18, out.target_mac);
    out.target_ip = load_be32(p + 24);
    return DropReason::none;
}

void emit_arp(std::span<std::uint8_t> out, const ArpPacket& packet) {
    std::uint8_t* p = out.data();
    store_be16(p, hardware_ethernet);
    store_be16(p + 2, ethertype_ipv4);
    p[4] = 6;
    p[5] = 4;
    store_be16(p + 6, packet.operation);
    store_mac(p + 8, packet.sender_mac);
    store_be32(p + 14, packet.sender_ip);
    store_mac(p + 18, packet.target_mac);
    store_be32(p + 24, packet.target_ip);
}

ArpCache::Entry* ArpCache::find(std::uint32_t ip) {
    if (entries_[last_].state != Entry::State::free && entries_[last_].ip == ip) return &entries_[last_];
    for (std::size_t i = 0; i < capacity; ++i) {
        if (entries_[i].state != Entry::State::free && entries_[i].ip == ip) {
            last_ = i;
            return &entries_[i];
        }
    }
    return nullptr;
}

ArpCache::Entry& ArpCache::claim(std::uint32_t ip) {
    Entry* victim = &entries_[0];
    for (Entry& e : entries_) {
        if (e.state == Entry::State::free) {
            victim = &e;
            break;
        }
        if (e.stamp_us < victim->stamp_us) victim = &e;
    }
    *victim = Entry{};
    victim->ip = ip;
    return *victim;
}

ArpCache::Lookup ArpCache::lookup(std::uint32_t ip, std::uint64_t now_us) {
    Entry* e = find(ip);
    if (e && e->state == Entry::State::resolved) {
        if (now_us - e->stamp_us < timing_.entry_lifetime_us) return {e->mac, false};
        // Aged out: resolve again rather than trust a MAC that may have moved.
        e->state = Entry::State::incomplete;
        e->stamp_us = now_us;
        return {std::nullopt, true};
    }
    if (!e) {
        Entry& fresh = claim(ip);
        fresh.state = Entry::State::incomplete;
        fresh.stamp_us = now_us;
        return {std::nullopt, true};
    }
    if (now_us - e->stamp_us >= timing_.request_interval_us) {
        e->stamp_us = now_us;
        return {std::nullopt, true};
    }
    return {std::nullopt, false};
}

void ArpCache::update(std::uint32_t ip, const MacAddress& mac, std::uint64_t now_us, bool create) {
    Entry* e = find(ip);
    if (!e) {
        if (!create) return;
        e = &claim(ip);
    }
    e->mac = mac;
    e->stamp_us = now_us;
    e->state = Entry::State::resolved;
}

void ArpCache::learn(std::uint32_t ip, const MacAddress& mac, std::uint64_t now_us) {
    Entry* e = find(ip);
    if (e && e->state == Entry::State::resolved && e->mac != mac) return;
    update(ip, mac, now_us, true);
}

std::size_t ArpCache::resolved_entries() const {
    std::size_t n = 0;
    for (const Entry& e : entries_) n += e.state == Entry::State::resolved;
    return n;
}

}  // namespace bm::dpdk
