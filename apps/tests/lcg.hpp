// A fixed-seed generator for tests that walk many random inputs, so a
// failure reproduces (Knuth's MMIX linear congruential constants).
#pragma once

#include <cstddef>
#include <cstdint>

namespace bm::apps::testing {

struct Lcg {
    std::uint64_t state = 0x9e3779b97f4a7c15ULL;
    // A number in [0, bound).
    std::size_t next(std::size_t bound) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::size_t>(state >> 33) % bound;
    }
};

}  // namespace bm::apps::testing
