// A TCB's out-of-order data (tcp/reassembly.hpp), held only while there is
// some: most connections never see a segment beyond RCV.NXT, so the four
// ranges' bookkeeping is taken from a per-thread pool (apps/block_pool.hpp)
// when the first such segment is kept and given back once the gap has
// filled, instead of sitting in every TCB. Reassembly's interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "apps/block_pool.hpp"
#include "tcp/reassembly.hpp"

namespace bm::tcp {

class OutOfOrder {
public:
    bool insert(ChunkPool& pool, std::uint32_t seq, std::span<const std::uint8_t> bytes) {
        // A block comes back to the pool only empty, so it needs no clearing.
        Reassembly& kept = block_.get([](Reassembly&) {});
        bool inserted = kept.insert(pool, seq, bytes);
        give_back_if_empty();
        return inserted;
    }
    template <typename Offer>
    std::uint32_t advance(ChunkPool& pool, std::uint32_t rcv_nxt, Offer&& offer) {
        Reassembly* kept = block_.peek();
        if (!kept) return rcv_nxt;
        rcv_nxt = kept->advance(pool, rcv_nxt, std::forward<Offer>(offer));
        give_back_if_empty();  // `offer` may have ended the connection and cleared it
        return rcv_nxt;
    }
    std::size_t bytes() const { return block_.held() ? block_.peek()->bytes() : 0; }
    bool empty() const { return !block_.held() || block_.peek()->empty(); }
    void clear(ChunkPool& pool) {
        if (!block_.held()) return;
        block_.peek()->clear(pool);
        block_.release();
    }

private:
    void give_back_if_empty() {
        if (block_.held() && block_.peek()->empty()) block_.release();
    }
    apps::PooledBlock<Reassembly> block_;
};

}  // namespace bm::tcp
