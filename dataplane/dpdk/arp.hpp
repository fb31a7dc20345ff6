// ARP (RFC 826) for Ethernet and IPv4: the packet, the cache (with aging,
// RFC 1122 §2.3.2.1) and the bounded queue of frames waiting for a reply
// (RFC 1122 §2.3.2.2: SHOULD save at least one packet per unresolved
// destination; we keep a few, and drop the oldest on timeout, counted).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "dataplane/dpdk/drop_reason.hpp"
#include "dataplane/dpdk/ethernet.hpp"

namespace bm::dpdk {

inline constexpr std::size_t arp_packet_size = 28;
inline constexpr std::uint16_t arp_request = 1;
inline constexpr std::uint16_t arp_reply = 2;

struct ArpPacket {
    std::uint16_t operation = 0;
    MacAddress sender_mac;
    std::uint32_t sender_ip = 0;  // host byte order
    MacAddress target_mac;
    std::uint32_t target_ip = 0;
};

// Only hardware type Ethernet (1), protocol IPv4, lengths 6 and 4, and
// operations request or reply.
DropReason parse_arp(std::span<const std::uint8_t> bytes, ArpPacket& out);
// `out` must hold arp_packet_size bytes.
void emit_arp(std::span<std::uint8_t> out, const ArpPacket& packet);

struct ArpTiming {
    std::uint64_t entry_lifetime_us = 120'000'000;  // then resolve again
    std::uint64_t request_interval_us = 1'000'000;  // at most one request per second per address
    std::uint64_t pending_timeout_us = 3'000'000;   // a waiting frame is dropped after this
};

// Fixed-size cache; no allocation after construction. Entries are
// "incomplete" (a request is out) or "resolved" (a MAC with its age).
class ArpCache {
public:
    static constexpr std::size_t capacity = 256;

    explicit ArpCache(ArpTiming timing = {}) : timing_(timing) {}

    struct Lookup {
        std::optional<MacAddress> mac;
        bool send_request = false;  // the caller should broadcast a request now
    };
    // The MAC for `ip`, or whether to ask for it (rate-limited).
    Lookup lookup(std::uint32_t ip, std::uint64_t now_us);
    // RFC 826 "merge": refresh an existing entry; `create` adds one (the
    // packet was for us).
    void update(std::uint32_t ip, const MacAddress& mac, std::uint64_t now_us, bool create);
    // Learn from an IPv4 frame of an on-link sender: fills an absent or
    // incomplete entry, refreshes a matching one, and never overrides a
    // different resolved MAC. Not an RFC 826 rule, and the server never
    // calls it (anyone on the link can send from the gateway's address);
    // only the load generator, which talks to a server it trusts, does.
    void learn(std::uint32_t ip, const MacAddress& mac, std::uint64_t now_us);
    std::size_t resolved_entries() const;
    const ArpTiming& timing() const { return timing_; }

private:
    struct Entry {
        std::uint32_t ip = 0;
        MacAddress mac;
        std::uint64_t stamp_us = 0;  // resolved: when learnt; incomplete: last request
        enum class State : std::uint8_t { free, incomplete, resolved } state = State::free;
    };
    Entry* find(std::uint32_t ip);
    Entry& claim(std::uint32_t ip);  // a free slot, else the oldest

    ArpTiming timing_;
    std::array<Entry, capacity> entries_{};
    std::size_t last_ = 0;  // most traffic goes to one peer: check it first
};

// Frames waiting for the next hop's MAC. `Frame` is whatever the
// dataplane holds (an mbuf pointer); this class never looks inside.
template <typename Frame, std::size_t Capacity = 64>
class ArpPending {
public:
    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }

    // False when full: the caller drops the frame (counted).
    bool push(std::uint32_t next_hop, Frame frame, std::uint64_t now_us) {
        if (size_ == Capacity) return false;
        slots_[size_++] = {next_hop, frame, now_us};
        return true;
    }

    // Hands every frame waiting for `next_hop` to send(frame), in order.
    template <typename Send>
    void resolve(std::uint32_t next_hop, Send&& send) {
        remove_if([&](const Slot& s) { return s.next_hop == next_hop; }, send);
    }

    // Hands every frame older than `timeout_us` to drop(frame).
    template <typename Drop>
    void expire(std::uint64_t now_us, std::uint64_t timeout_us, Drop&& drop) {
        remove_if([&](const Slot& s) { return now_us - s.queued_us >= timeout_us; }, drop);
    }

    template <typename Drop>
    void clear(Drop&& drop) {
        remove_if([](const Slot&) { return true; }, drop);
    }

private:
    struct Slot {
        std::uint32_t next_hop = 0;
        Frame frame{};
        std::uint64_t queued_us = 0;
    };

    // Stable compaction: frames to one destination keep their order.
    template <typename Match, typename Take>
    void remove_if(Match&& match, Take&& take) {
        std::size_t kept = 0;
        for (std::size_t i = 0; i < size_; ++i) {
            if (match(slots_[i])) take(slots_[i].frame);
            else slots_[kept++] = slots_[i];
        }
        size_ = kept;
    }

    std::array<Slot, Capacity> slots_{};
    std::size_t size_ = 0;
};

}  // namespace bm::dpdk
