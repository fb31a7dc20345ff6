#include "tcp/send_buffer.hpp"

namespace bm::tcp {
namespace {

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

void SendBuffer::write(ChunkPool& pool, std::string_view bytes, std::size_t ring_limit) {
    if (overflow_head_ == overflow_.size()) {
        std::size_t taken = ring_.append(pool, as_bytes(bytes), ring_limit);
        bytes.remove_prefix(taken);
    }
    if (!bytes.empty()) overflow_.append(bytes);
}

void SendBuffer::acknowledge(ChunkPool& pool, std::size_t n, std::size_t ring_limit) {
    ring_.consume(pool, n);
    refill(pool, ring_limit);
}

void SendBuffer::refill(ChunkPool& pool, std::size_t ring_limit) {
    if (overflow_head_ == overflow_.size()) return;
    std::string_view rest(overflow_);
    rest.remove_prefix(overflow_head_);
    overflow_head_ += ring_.append(pool, as_bytes(rest), ring_limit);
    if (overflow_head_ == overflow_.size()) {
        // Give the heap block back: a big reply should not pin its size.
        std::string().swap(overflow_);
        overflow_head_ = 0;
    }
}

void SendBuffer::clear(ChunkPool& pool) {
    ring_.clear(pool);
    std::string().swap(overflow_);
    overflow_head_ = 0;
}

}  // namespace bm::tcp
