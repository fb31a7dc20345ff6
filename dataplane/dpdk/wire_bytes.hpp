// Network byte order loads and stores on raw frame bytes. The wire code
// reads fields through these only, never by casting a struct over a frame
// (no alignment or padding assumptions, no type punning).
#pragma once

#include <cstddef>
#include <cstdint>

namespace bm::dpdk {

inline std::uint16_t load_be16(const std::uint8_t* p) {
    return std::uint16_t((unsigned(p[0]) << 8) | p[1]);
}

inline std::uint32_t load_be32(const std::uint8_t* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

inline void store_be16(std::uint8_t* p, std::uint16_t v) {
    p[0] = std::uint8_t(v >> 8);
    p[1] = std::uint8_t(v);
}

inline void store_be32(std::uint8_t* p, std::uint32_t v) {
    p[0] = std::uint8_t(v >> 24);
    p[1] = std::uint8_t(v >> 16);
    p[2] = std::uint8_t(v >> 8);
    p[3] = std::uint8_t(v);
}

}  // namespace bm::dpdk
