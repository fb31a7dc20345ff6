// What a TCB owes its peer: the bytes from SND.UNA on, both those in flight
// and those not yet sent. The first `ring_limit` bytes live in pool chunks;
// what a machine queues beyond that goes, in order, into heap blocks of
// 64 KB. Segments are cut from either, where the bytes were first copied:
// each byte the machine hands to Transport::send is copied exactly once
// (into a chunk or a block), blocks are freed one by one as the peer
// acknowledges them, and a large reply is never cut short.
//
// Streaming machines (POP3 RETR) stay within the ring: they ask
// Transport::send_room before queueing the next piece and continue on
// Session::on_writable, so a 10 MB message never sits here whole; the
// blocks serve what is queued in one go (a long multi-line reply).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "tcp/chunk_pool.hpp"

namespace bm::tcp {

class SendBuffer {
public:
    SendBuffer() = default;
    SendBuffer(const SendBuffer&) = delete;
    SendBuffer& operator=(const SendBuffer&) = delete;
    ~SendBuffer();  // frees heap blocks; pool chunks must be cleared first

    // Queues bytes; never refuses.
    void write(ChunkPool& pool, std::string_view bytes, std::size_t ring_limit);
    // SND.UNA advanced by n: frees those bytes.
    void acknowledge(ChunkPool& pool, std::size_t n);
    void clear(ChunkPool& pool);

    std::size_t size() const { return ring_.size() + overflow_size_; }
    bool empty() const { return size() == 0; }
    // Bytes [offset, offset + len) from SND.UNA as at most two contiguous
    // pieces; len must not exceed the pool's chunk size. O(1) for the next
    // segment after the last one peeked (a cursor is kept there).
    void peek(const ChunkPool& pool, std::size_t offset, std::size_t len, std::span<const std::uint8_t>& a,
              std::span<const std::uint8_t>& b);

private:
    struct Block {
        Block* next;
        std::uint32_t size;      // bytes written
        std::uint32_t capacity;  // bytes after the header
        std::uint8_t* bytes() { return reinterpret_cast<std::uint8_t*>(this + 1); }
    };
    struct BlockCursor {
        Block* block = nullptr;
        std::size_t start = 0;  // overflow offset of the block's first live byte
    };
    void append_overflow(const ChunkPool& pool, std::string_view bytes);
    void consume_overflow(std::size_t n);
    void peek_overflow(std::size_t offset, std::size_t len, std::span<const std::uint8_t>& a,
                       std::span<const std::uint8_t>& b);

    ChunkQueue ring_;
    ChunkQueue::Cursor ring_cursor_;
    Block* head_ = nullptr;  // overflow blocks, oldest first (heap, only past the ring)
    Block* tail_ = nullptr;
    std::uint32_t head_offset_ = 0;  // bytes of head_ already acknowledged
    std::size_t overflow_size_ = 0;
    BlockCursor block_cursor_;
};

}  // namespace bm::tcp
