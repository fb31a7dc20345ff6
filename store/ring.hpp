// A bounded single-producer / single-consumer ring of pointers: one thread
// pushes, one other thread pops, no locks. Each side keeps a private copy
// of the other side's index and rereads the shared one only when the copy
// says full/empty, so a busy ring costs no cache-line ping-pong per item.
#pragma once

#include <atomic>
#include <cstddef>
#include <vector>

namespace bm::store {

template <typename T>
class SpscRing {
public:
    explicit SpscRing(std::size_t capacity)
        : slots_(round_up_to_power_of_two(capacity)), mask_(slots_.size() - 1) {}

    std::size_t capacity() const { return slots_.size(); }

    // Producer side. False when full.
    bool push(T value) {
        std::size_t tail = tail_.load(std::memory_order_relaxed);
        if (tail - head_seen_ == slots_.size()) {
            head_seen_ = head_.load(std::memory_order_acquire);
            if (tail - head_seen_ == slots_.size()) return false;
        }
        slots_[tail & mask_] = value;
        tail_.store(tail + 1, std::memory_order_release);
        return true;
    }

    // Consumer side. False when empty.
    bool pop(T& value) {
        std::size_t head = head_.load(std::memory_order_relaxed);
        if (head == tail_seen_) {
            tail_seen_ = tail_.load(std::memory_order_acquire);
            if (head == tail_seen_) return false;
        }
        value = slots_[head & mask_];
        head_.store(head + 1, std::memory_order_release);
        return true;
    }

    // Consumer side: is anything waiting right now?
    bool empty() const {
        return head_.load(std::memory_order_relaxed) == tail_.load(std::memory_order_acquire);
    }

private:
    static std::size_t round_up_to_power_of_two(std::size_t n) {
        std::size_t size = 1;
        while (size < n) size <<= 1;
        return size;
    }

    std::vector<T> slots_;
    std::size_t mask_;
    // Consumer-owned line.
    alignas(64) std::atomic<std::size_t> head_{0};
    std::size_t tail_seen_ = 0;
    // Producer-owned line.
    alignas(64) std::atomic<std::size_t> tail_{0};
    std::size_t head_seen_ = 0;
};

}  // namespace bm::store
