#include "tcp/chunk_pool.hpp"

#include <algorithm>
#include <cstring>

namespace bm::tcp {

ChunkPool::ChunkPool(std::size_t total_bytes, std::uint32_t chunk_size)
    : chunk_size_(chunk_size),
      arena_(new std::uint8_t[std::max<std::size_t>(total_bytes / chunk_size, 1) * chunk_size]) {
    std::uint32_t count = std::uint32_t(std::max<std::size_t>(total_bytes / chunk_size, 1));
    next_.assign(count, none);
    free_.reserve(count);
    for (std::uint32_t i = count; i-- > 0;) free_.push_back(i);
}

std::uint32_t ChunkPool::take() {
    if (free_.empty()) return none;
    std::uint32_t chunk = free_.back();
    free_.pop_back();
    next_[chunk] = none;
    return chunk;
}

void ChunkPool::give(std::uint32_t chunk) { free_.push_back(chunk); }

std::size_t ChunkQueue::append(ChunkPool& pool, std::span<const std::uint8_t> bytes, std::size_t limit) {
    std::size_t room = limit > size_ ? limit - size_ : 0;
    std::size_t want = std::min(bytes.size(), room);
    std::size_t done = 0;
    while (done < want) {
        if (tail_ == ChunkPool::none || tail_length_ == pool.chunk_size()) {
            std::uint32_t chunk = pool.take();
            if (chunk == ChunkPool::none) break;
            if (tail_ == ChunkPool::none) {
                head_ = chunk;
                head_offset_ = 0;
            } else {
                pool.set_next(tail_, chunk);
            }
            tail_ = chunk;
            tail_length_ = 0;
        }
        std::size_t n = std::min<std::size_t>(want - done, pool.chunk_size() - tail_length_);
        std::memcpy(pool.data(tail_) + tail_length_, bytes.data() + done, n);
        tail_length_ += std::uint32_t(n);
        done += n;
    }
    size_ += std::uint32_t(done);
    return done;
}

void ChunkQueue::consume(ChunkPool& pool, std::size_t n) {
    n = std::min<std::size_t>(n, size_);
    size_ -= std::uint32_t(n);
    while (n > 0 || (size_ == 0 && head_ != ChunkPool::none)) {
        std::uint32_t in_head = (head_ == tail_ ? tail_length_ : pool.chunk_size()) - head_offset_;
        if (n < in_head && size_ > 0) {
            head_offset_ += std::uint32_t(n);
            return;
        }
        n -= std::min<std::size_t>(n, in_head);
        std::uint32_t next = pool.next(head_);
        pool.give(head_);
        if (head_ == tail_) {
            head_ = tail_ = ChunkPool::none;
            head_offset_ = tail_length_ = 0;
            return;
        }
        head_ = next;
        head_offset_ = 0;
    }
}

std::span<const std::uint8_t> ChunkQueue::front(const ChunkPool& pool) const {
    if (size_ == 0) return {};
    std::uint32_t end = head_ == tail_ ? tail_length_ : pool.chunk_size();
    return {pool.data(head_) + head_offset_, end - head_offset_};
}

void ChunkQueue::consume(ChunkPool& pool, std::size_t n, Cursor& cursor) {
    n = std::min<std::size_t>(n, size_);
    if (cursor.chunk != ChunkPool::none) {
        // The cursor's chunk stays if a live byte of it is left after n.
        std::size_t begin = cursor.chunk == head_ ? head_offset_ : 0;
        bool stays = n < size_ && cursor.start + (pool.chunk_size() - begin) > n;
        if (stays)
            cursor.start = cursor.start > n ? std::uint32_t(cursor.start - n) : 0;
        else
            cursor = {};
    }
    consume(pool, n);
}

void ChunkQueue::peek(const ChunkPool& pool, Cursor& cursor, std::size_t offset, std::size_t len,
                      std::span<const std::uint8_t>& a, std::span<const std::uint8_t>& b) const {
    a = b = {};
    len = std::min<std::size_t>(len, offset < size_ ? size_ - offset : 0);
    if (len == 0) return;
    Cursor from_head{head_, 0};
    Cursor& at_chunk = offset < pool.chunk_size() - head_offset_ ? from_head : cursor;
    if (at_chunk.chunk == ChunkPool::none || offset < at_chunk.start) at_chunk = from_head;
    std::size_t begin = at_chunk.chunk == head_ ? head_offset_ : 0;
    while (offset >= at_chunk.start + (pool.chunk_size() - begin)) {
        at_chunk.start += std::uint32_t(pool.chunk_size() - begin);
        at_chunk.chunk = pool.next(at_chunk.chunk);
        begin = 0;
    }
    std::size_t at = begin + (offset - at_chunk.start);
    std::size_t first = std::min<std::size_t>(len, pool.chunk_size() - at);
    a = {pool.data(at_chunk.chunk) + at, first};
    if (first < len) b = {pool.data(pool.next(at_chunk.chunk)), len - first};
}

}  // namespace bm::tcp
