#include "tcp/reassembly.hpp"

#include <limits>

#include "tcp/seq.hpp"

namespace bm::tcp {

bool Reassembly::insert(ChunkPool& pool, std::uint32_t seq, std::span<const std::uint8_t> bytes) {
    std::uint32_t start = seq;
    std::uint32_t end = seq + std::uint32_t(bytes.size());
    // Skip what is already kept (ranges are sorted and disjoint).
    for (std::size_t i = 0; i < count_; ++i)
        if (seq_in(start, ranges_[i].seq, ranges_[i].end())) start = ranges_[i].end();
    if (seq_ge(start, end)) return true;  // a duplicate
    // Keep only the piece up to the next kept range.
    for (std::size_t i = 0; i < count_; ++i)
        if (seq_lt(start, ranges_[i].seq) && seq_lt(ranges_[i].seq, end)) {
            end = ranges_[i].seq;
            break;
        }
    std::span<const std::uint8_t> piece = bytes.subspan(start - seq, end - start);
    constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

    for (std::size_t i = 0; i < count_; ++i)
        if (ranges_[i].end() == start) return ranges_[i].data.append(pool, piece, unbounded) > 0;

    if (count_ == max_ranges) return false;
    std::size_t at = 0;
    while (at < count_ && seq_lt(ranges_[at].seq, start)) ++at;
    for (std::size_t i = count_; i > at; --i) ranges_[i] = ranges_[i - 1];
    ranges_[at] = Range{};
    ranges_[at].seq = start;
    ++count_;
    if (ranges_[at].data.append(pool, piece, unbounded) == 0) {
        remove(pool, at);
        return false;
    }
    return true;
}

std::size_t Reassembly::bytes() const {
    std::size_t total = 0;
    for (std::size_t i = 0; i < count_; ++i) total += ranges_[i].data.size();
    return total;
}

void Reassembly::remove(ChunkPool& pool, std::size_t index) {
    ranges_[index].data.clear(pool);
    for (std::size_t i = index; i + 1 < count_; ++i) ranges_[i] = ranges_[i + 1];
    --count_;
    ranges_[count_] = Range{};  // the moved-from copy must not alias a chain
}

void Reassembly::clear(ChunkPool& pool) {
    while (count_ > 0) remove(pool, count_ - 1);
}

}  // namespace bm::tcp
