#include "tcp/siphash.hpp"

#include <bit>

namespace bm::tcp {
namespace {

struct SipState {
    std::uint64_t v0, v1, v2, v3;

    explicit SipState(const SipKey& key)
        : v0(key.k0 ^ 0x736f6d6570736575ull),
          v1(key.k1 ^ 0x646f72616e646f6dull),
          v2(key.k0 ^ 0x6c7967656e657261ull),
          v3(key.k1 ^ 0x7465646279746573ull) {}

    void round() {
        v0 += v1; v1 = std::rotl(v1, 13); v1 ^= v0; v0 = std::rotl(v0, 32);
        v2 += v3; v3 = std::rotl(v3, 16); v3 ^= v2;
        v0 += v3; v3 = std::rotl(v3, 21); v3 ^= v0;
        v2 += v1; v1 = std::rotl(v1, 17); v1 ^= v2; v2 = std::rotl(v2, 32);
    }
};

std::uint64_t load_le64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

template <int C, int D>
std::uint64_t siphash(const SipKey& key, std::span<const std::uint8_t> data) {
    SipState s(key);
    std::size_t whole = data.size() & ~std::size_t(7);
    for (std::size_t at = 0; at < whole; at += 8) {
        std::uint64_t m = load_le64(data.data() + at);
        s.v3 ^= m;
        for (int i = 0; i < C; ++i) s.round();
        s.v0 ^= m;
    }
    // Last block: the remaining bytes, with the length in the top byte.
    std::uint64_t last = std::uint64_t(data.size() & 0xff) << 56;
    for (std::size_t i = 0; i < data.size() - whole; ++i)
        last |= std::uint64_t(data[whole + i]) << (8 * i);
    s.v3 ^= last;
    for (int i = 0; i < C; ++i) s.round();
    s.v0 ^= last;
    s.v2 ^= 0xff;
    for (int i = 0; i < D; ++i) s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace

std::uint64_t siphash24(const SipKey& key, std::span<const std::uint8_t> data) {
    return siphash<2, 4>(key, data);
}

std::uint64_t siphash13(const SipKey& key, std::span<const std::uint8_t> data) {
    return siphash<1, 3>(key, data);
}

}  // namespace bm::tcp
