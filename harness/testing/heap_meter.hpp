// Heap accounting for tests and benchmarks: the binary that links
// heap_meter.cpp replaces the global operator new/delete with counting
// versions, so a test can ask how many bytes are live, the peak since a
// mark, and how many allocations were made. Bytes are malloc's usable
// sizes (what the process really holds), not the sizes asked for.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bm::heap {

struct Stats {
    std::size_t live = 0;           // bytes held now
    std::size_t peak = 0;           // most held since the last mark()
    std::uint64_t allocations = 0;  // operator new calls since the last mark()
};

// Starts a measurement: peak = live, allocations = 0.
void mark();
Stats stats();

}  // namespace bm::heap
