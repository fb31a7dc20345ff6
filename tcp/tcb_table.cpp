#include "tcp/tcb_table.hpp"

#include "tcp/isn.hpp"

namespace bm::tcp {

TcbTable::TcbTable(std::uint32_t capacity, SipKey key)
    : capacity_(capacity), key_(key), tcbs_(new Tcb[capacity]) {
    free_.reserve(capacity);
    for (std::uint32_t i = capacity; i-- > 0;) {
        tcbs_[i].slot = i;
        free_.push_back(i);
    }
    std::uint32_t size = 16;
    while (size < 2 * capacity) size *= 2;
    buckets_.assign(size, Bucket{});
    mask_ = size - 1;
}

std::uint32_t TcbTable::hash(const FourTuple& tuple) const {
    auto bytes = tuple_bytes(tuple);
    return std::uint32_t(siphash13(key_, bytes));
}

Tcb* TcbTable::find(const FourTuple& tuple) {
    std::uint32_t h = hash(tuple);
    for (std::uint32_t i = h & mask_;; i = (i + 1) & mask_) {
        const Bucket& b = buckets_[i];
        if (b.slot == empty) return nullptr;
        if (b.hash == h && tcbs_[b.slot].tuple == tuple) return &tcbs_[b.slot];
    }
}

Tcb* TcbTable::insert(const FourTuple& tuple) {
    if (free_.empty()) return nullptr;
    std::uint32_t slot = free_.back();
    free_.pop_back();
    std::uint32_t h = hash(tuple);
    std::uint32_t i = h & mask_;
    while (buckets_[i].slot != empty) i = (i + 1) & mask_;
    buckets_[i] = {h, slot};
    Tcb& tcb = tcbs_[slot];
    tcb.tuple = tuple;
    return &tcb;
}

void TcbTable::erase(Tcb& tcb) {
    std::uint32_t h = hash(tcb.tuple);
    std::uint32_t i = h & mask_;
    while (buckets_[i].slot != tcb.slot) {
        if (buckets_[i].slot == empty) return;  // not indexed
        i = (i + 1) & mask_;
    }
    // Backward-shift deletion: pull later entries of the run into the hole
    // when their home bucket is at or before it (cyclically).
    for (std::uint32_t j = (i + 1) & mask_; buckets_[j].slot != empty; j = (j + 1) & mask_) {
        std::uint32_t home = buckets_[j].hash & mask_;
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            buckets_[i] = buckets_[j];
            i = j;
        }
    }
    buckets_[i] = Bucket{};
    free_.push_back(tcb.slot);
}

}  // namespace bm::tcp
