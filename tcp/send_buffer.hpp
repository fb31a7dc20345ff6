// What a TCB owes its peer: the bytes from SND.UNA on, both those in flight
// and those not yet sent. The first `ring_limit` bytes live in pool chunks
// (where segments are cut from); anything a machine queues beyond that waits
// in an overflow string and moves into the chunks as ACKs free room, so a
// large reply is never cut short.
//
// FIXME(streaming): a POP3 RETR of a 10 MB message still holds the whole
// message once per connection — in the MessageText the store returned, then
// in `overflow_`. Streaming would remove it: the store would hand out the
// message as a file (or mmap) plus an offset, the TCB would keep only that
// cursor, and output would read the next window's worth straight into the
// chunks (dot-stuffing on the fly) as ACKs free them — memory per RETR
// bounded by the ring, whatever the message size.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "tcp/chunk_pool.hpp"

namespace bm::tcp {

class SendBuffer {
public:
    // Queues bytes; never refuses (see the FIXME above).
    void write(ChunkPool& pool, std::string_view bytes, std::size_t ring_limit);
    // SND.UNA advanced by n: frees those bytes and refills from the overflow.
    void acknowledge(ChunkPool& pool, std::size_t n, std::size_t ring_limit);
    // Moves overflow bytes into chunks if the pool has room again.
    void refill(ChunkPool& pool, std::size_t ring_limit);
    void clear(ChunkPool& pool);

    std::size_t size() const { return ring_.size() + (overflow_.size() - overflow_head_); }
    // Bytes that segments can be cut from now.
    std::size_t sendable() const { return ring_.size(); }
    bool empty() const { return size() == 0; }
    void peek(const ChunkPool& pool, std::size_t offset, std::size_t len, std::span<const std::uint8_t>& a,
              std::span<const std::uint8_t>& b) const {
        ring_.peek(pool, offset, len, a, b);
    }

private:
    ChunkQueue ring_;
    std::string overflow_;          // heap, only for replies larger than the ring
    std::size_t overflow_head_ = 0; // bytes of overflow_ already moved to the ring
};

}  // namespace bm::tcp
