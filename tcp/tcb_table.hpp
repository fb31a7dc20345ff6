// The TCB table: tcb_capacity TCBs preallocated at start, a free list, and
// a 4-tuple index. The index is open addressing with linear probing over a
// power-of-two array at most half full, entries (hash, slot) so a probe
// touches a TCB only on a full-hash match, and backward-shift deletion so
// no tombstones build up under connection churn. The hash is SipHash-1-3
// with a secret key: a peer cannot pick 4-tuples that pile into one run.
// Nothing here allocates after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tcp/siphash.hpp"
#include "tcp/tcb.hpp"

namespace bm::tcp {

class TcbTable {
public:
    TcbTable(std::uint32_t capacity, SipKey key);

    Tcb* find(const FourTuple& tuple);
    // A free TCB indexed under `tuple` (in state closed), or null when full.
    Tcb* insert(const FourTuple& tuple);
    // Unindexes the TCB and returns it to the free list.
    void erase(Tcb& tcb);

    Tcb& at(std::uint32_t slot) { return tcbs_[slot]; }
    std::uint32_t capacity() const { return capacity_; }
    std::uint32_t in_use() const { return capacity_ - std::uint32_t(free_.size()); }
    bool full() const { return free_.empty(); }

private:
    static constexpr std::uint32_t empty = 0xffffffffu;
    struct Bucket {
        std::uint32_t hash = 0;
        std::uint32_t slot = empty;
    };
    std::uint32_t hash(const FourTuple& tuple) const;

    std::uint32_t capacity_;
    SipKey key_;
    std::unique_ptr<Tcb[]> tcbs_;
    std::vector<std::uint32_t> free_;
    std::vector<Bucket> buckets_;
    std::uint32_t mask_;
};

}  // namespace bm::tcp
