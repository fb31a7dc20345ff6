#include "tcp/send_buffer.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace bm::tcp {
namespace {

constexpr std::size_t block_bytes = 64 * 1024;

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

SendBuffer::~SendBuffer() { consume_overflow(overflow_size_); }

void SendBuffer::write(ChunkPool& pool, std::string_view bytes, std::size_t ring_limit) {
    if (overflow_size_ == 0) {
        std::size_t taken = ring_.append(pool, as_bytes(bytes), ring_limit);
        bytes.remove_prefix(taken);
        if (bytes.empty()) return;
        // The ring ends on a chunk boundary before the blocks start, so a
        // segment (at most a chunk long) spans at most two pieces.
        taken = ring_.append(pool, as_bytes(bytes), ring_.size() + ring_.tail_room(pool));
        bytes.remove_prefix(taken);
    }
    if (!bytes.empty()) append_overflow(pool, bytes);
}

// Blocks hold at least a chunk, and every block but the last is full, so
// a segment spans at most two of them too.
void SendBuffer::append_overflow(const ChunkPool& pool, std::string_view bytes) {
    overflow_size_ += bytes.size();
    while (!bytes.empty()) {
        if (!tail_ || tail_->size == tail_->capacity) {
            std::size_t capacity = std::max<std::size_t>(block_bytes, pool.chunk_size());
            Block* block = new (::operator new(sizeof(Block) + capacity)) Block{nullptr, 0, std::uint32_t(capacity)};
            if (tail_) tail_->next = block;
            else head_ = block;
            tail_ = block;
        }
        std::size_t n = std::min<std::size_t>(bytes.size(), tail_->capacity - tail_->size);
        std::memcpy(tail_->bytes() + tail_->size, bytes.data(), n);
        tail_->size += std::uint32_t(n);
        bytes.remove_prefix(n);
    }
}

void SendBuffer::acknowledge(ChunkPool& pool, std::size_t n) {
    std::size_t from_ring = std::min(n, ring_.size());
    ring_.consume(pool, from_ring, ring_cursor_);
    consume_overflow(n - from_ring);
}

// Frees whole blocks as they are acknowledged: a big reply does not pin
// its size until its last byte.
void SendBuffer::consume_overflow(std::size_t n) {
    n = std::min(n, overflow_size_);
    if (block_cursor_.block) {
        std::size_t live = block_cursor_.block->size - (block_cursor_.block == head_ ? head_offset_ : 0);
        if (n < overflow_size_ && block_cursor_.start + live > n)
            block_cursor_.start = block_cursor_.start > n ? block_cursor_.start - n : 0;
        else
            block_cursor_ = {};
    }
    overflow_size_ -= n;
    while (head_ && (n > 0 || overflow_size_ == 0)) {
        std::size_t in_head = head_->size - head_offset_;
        if (n < in_head && overflow_size_ > 0) {
            head_offset_ += std::uint32_t(n);
            return;
        }
        n -= std::min(n, in_head);
        Block* next = head_->next;
        ::operator delete(head_);
        head_ = next;
        head_offset_ = 0;
    }
    if (!head_) tail_ = nullptr;
}

void SendBuffer::clear(ChunkPool& pool) {
    ring_.consume(pool, ring_.size(), ring_cursor_);
    consume_overflow(overflow_size_);
}

void SendBuffer::peek(const ChunkPool& pool, std::size_t offset, std::size_t len, std::span<const std::uint8_t>& a,
                      std::span<const std::uint8_t>& b) {
    std::size_t in_ring = ring_.size();
    if (offset >= in_ring) return peek_overflow(offset - in_ring, len, a, b);
    ring_.peek(pool, ring_cursor_, offset, len, a, b);
    std::size_t got = a.size() + b.size();
    if (got == len || overflow_size_ == 0) return;
    // The last ring bytes (all in the full tail chunk) and the first block.
    std::span<const std::uint8_t> rest, none;
    peek_overflow(0, len - got, rest, none);
    b = rest;
}

void SendBuffer::peek_overflow(std::size_t offset, std::size_t len, std::span<const std::uint8_t>& a,
                               std::span<const std::uint8_t>& b) {
    a = b = {};
    len = std::min(len, offset < overflow_size_ ? overflow_size_ - offset : 0);
    if (len == 0) return;
    BlockCursor& at_block = block_cursor_;
    if (!at_block.block || offset < at_block.start) at_block = {head_, 0};
    std::size_t begin = at_block.block == head_ ? head_offset_ : 0;
    while (offset >= at_block.start + (at_block.block->size - begin)) {
        at_block.start += at_block.block->size - begin;
        at_block.block = at_block.block->next;
        begin = 0;
    }
    std::size_t at = begin + (offset - at_block.start);
    std::size_t first = std::min<std::size_t>(len, at_block.block->size - at);
    a = {at_block.block->bytes() + at, first};
    if (first < len) b = {at_block.block->next->bytes(), len - first};
}

}  // namespace bm::tcp
