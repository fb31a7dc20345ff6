#include "harness/testing/heap_meter.hpp"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace bm::heap {
namespace {

std::atomic<std::size_t> live_bytes{0}, peak_bytes{0};
std::atomic<std::uint64_t> allocation_count{0};

void* take(std::size_t size) {
    void* p = std::malloc(size == 0 ? 1 : size);
    if (!p) throw std::bad_alloc();
    std::size_t now = live_bytes.fetch_add(malloc_usable_size(p), std::memory_order_relaxed) + malloc_usable_size(p);
    std::size_t peak = peak_bytes.load(std::memory_order_relaxed);
    while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    allocation_count.fetch_add(1, std::memory_order_relaxed);
    return p;
}

void give(void* p) noexcept {
    if (!p) return;
    live_bytes.fetch_sub(malloc_usable_size(p), std::memory_order_relaxed);
    std::free(p);
}

}  // namespace

void mark() {
    peak_bytes.store(live_bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
    allocation_count.store(0, std::memory_order_relaxed);
}

Stats stats() {
    return {live_bytes.load(std::memory_order_relaxed), peak_bytes.load(std::memory_order_relaxed),
            allocation_count.load(std::memory_order_relaxed)};
}

}  // namespace bm::heap

void* operator new(std::size_t size) { return bm::heap::take(size); }
void* operator new[](std::size_t size) { return bm::heap::take(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return bm::heap::take(size);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return bm::heap::take(size);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* p) noexcept { bm::heap::give(p); }
void operator delete[](void* p) noexcept { bm::heap::give(p); }
void operator delete(void* p, std::size_t) noexcept { bm::heap::give(p); }
void operator delete[](void* p, std::size_t) noexcept { bm::heap::give(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { bm::heap::give(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { bm::heap::give(p); }
