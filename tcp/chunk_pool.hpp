// Buffer memory for every TCB: fixed-size chunks carved from one arena that
// is allocated once, at start (the role mbuf mempools play in DPDK). A TCB's
// send queue, held input and out-of-order data are chains of chunks, so an
// idle connection holds no buffer memory at all and the per-segment path
// never calls malloc — only the free-list stack moves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace bm::tcp {

class ChunkPool {
public:
    static constexpr std::uint32_t none = 0xffffffffu;

    ChunkPool(std::size_t total_bytes, std::uint32_t chunk_size);

    std::uint32_t take();  // none when exhausted
    void give(std::uint32_t chunk);
    std::uint8_t* data(std::uint32_t chunk) { return arena_.get() + std::size_t(chunk) * chunk_size_; }
    const std::uint8_t* data(std::uint32_t chunk) const {
        return arena_.get() + std::size_t(chunk) * chunk_size_;
    }
    std::uint32_t next(std::uint32_t chunk) const { return next_[chunk]; }
    void set_next(std::uint32_t chunk, std::uint32_t after) { next_[chunk] = after; }
    std::uint32_t chunk_size() const { return chunk_size_; }
    std::size_t free_bytes() const { return free_.size() * std::size_t(chunk_size_); }

private:
    std::uint32_t chunk_size_;
    std::unique_ptr<std::uint8_t[]> arena_;  // left uninitialised: pages are touched on first use
    std::vector<std::uint32_t> next_;        // chain links, one per chunk
    std::vector<std::uint32_t> free_;        // stack of free chunks
};

// A FIFO byte queue over a chain of pool chunks; 20 bytes when empty.
// The queue does not own the pool: every call that may move chunks takes it.
class ChunkQueue {
public:
    // A position kept by the caller between peeks (the send buffer keeps
    // one at SND.NXT), so cutting the next segment does not walk the chain
    // from the head: the chunk last peeked into, and the queue offset of
    // its first live byte. consume(pool, n, cursor) keeps it valid.
    struct Cursor {
        std::uint32_t chunk = ChunkPool::none;
        std::uint32_t start = 0;
    };

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    // Appends what fits under `limit` total bytes and in the pool; returns
    // how many bytes were taken.
    std::size_t append(ChunkPool& pool, std::span<const std::uint8_t> bytes, std::size_t limit);
    // Drops the first n bytes, returning emptied chunks to the pool.
    void consume(ChunkPool& pool, std::size_t n);
    // The same, moving `cursor` along (or resetting it if its chunk went).
    void consume(ChunkPool& pool, std::size_t n, Cursor& cursor);
    void clear(ChunkPool& pool) { consume(pool, size_); }
    // The first contiguous run of bytes.
    std::span<const std::uint8_t> front(const ChunkPool& pool) const;
    // Bytes [offset, offset + len) as at most two contiguous pieces; len
    // must not exceed the chunk size. Walks from `cursor` (from the head if
    // offset is before it), so consecutive segments cost O(1); offsets in
    // the head chunk (retransmissions) are served without moving it.
    void peek(const ChunkPool& pool, Cursor& cursor, std::size_t offset, std::size_t len,
              std::span<const std::uint8_t>& a, std::span<const std::uint8_t>& b) const;
    // Bytes the last chunk can still take without taking another.
    std::size_t tail_room(const ChunkPool& pool) const {
        return tail_ == ChunkPool::none ? 0 : pool.chunk_size() - tail_length_;
    }

private:
    std::uint32_t head_ = ChunkPool::none;
    std::uint32_t tail_ = ChunkPool::none;
    std::uint32_t head_offset_ = 0;  // first live byte in head_
    std::uint32_t tail_length_ = 0;  // bytes used in tail_
    std::uint32_t size_ = 0;
};

}  // namespace bm::tcp
