// Out-of-order data (RFC 9293 §3.10.7.4, seventh step: segments beyond
// RCV.NXT are kept and offered once the gap before them fills). Bounded:
// at most max_ranges separate ranges, each a chunk chain. A segment that
// would need a fifth range, or that overlaps kept data in a way that would
// split it, keeps only what fits simply; the peer retransmits the rest.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tcp/chunk_pool.hpp"

namespace bm::tcp {

class Reassembly {
public:
    static constexpr std::size_t max_ranges = 4;

    // Keeps [seq, seq + bytes.size()) (all beyond rcv_nxt). Returns false if
    // nothing could be kept (no range or no pool room).
    bool insert(ChunkPool& pool, std::uint32_t seq, std::span<const std::uint8_t> bytes);
    // If kept data starts at or before rcv_nxt, calls offer(bytes) for the
    // part from rcv_nxt on (possibly several pieces) and returns the new
    // RCV.NXT. `offer` returns how many bytes it accepted; fewer than
    // offered stops the walk and keeps the rest here.
    template <typename Offer>
    std::uint32_t advance(ChunkPool& pool, std::uint32_t rcv_nxt, Offer&& offer);
    std::size_t bytes() const;
    bool empty() const { return count_ == 0; }
    void clear(ChunkPool& pool);

private:
    struct Range {
        std::uint32_t seq = 0;
        ChunkQueue data;
        std::uint32_t end() const { return seq + std::uint32_t(data.size()); }
    };
    void remove(ChunkPool& pool, std::size_t index);

    std::array<Range, max_ranges> ranges_{};  // sorted by seq, first count_ used
    std::uint8_t count_ = 0;
};

template <typename Offer>
std::uint32_t Reassembly::advance(ChunkPool& pool, std::uint32_t rcv_nxt, Offer&& offer) {
    while (count_ > 0 && std::int32_t(ranges_[0].seq - rcv_nxt) <= 0) {
        Range& r = ranges_[0];
        std::int32_t stale = std::int32_t(rcv_nxt - r.seq);
        if (std::uint32_t(stale) >= r.data.size()) {
            remove(pool, 0);
            continue;
        }
        r.data.consume(pool, std::uint32_t(stale));
        bool more = true;
        while (!r.data.empty() && more) {
            std::span<const std::uint8_t> piece = r.data.front(pool);
            std::size_t taken = offer(piece);
            rcv_nxt += std::uint32_t(taken);
            r.data.consume(pool, taken);
            more = taken == piece.size();
        }
        if (!r.data.empty()) {
            r.seq = rcv_nxt;
            return rcv_nxt;
        }
        remove(pool, 0);
    }
    return rcv_nxt;
}

}  // namespace bm::tcp
