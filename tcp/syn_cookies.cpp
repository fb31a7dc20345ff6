#include "tcp/syn_cookies.hpp"

#include <array>
#include <cstring>

#include "tcp/isn.hpp"

namespace bm::tcp {
namespace {

// The MSS values a cookie can name (3 bits); like Linux's table, chosen
// around common path MTUs (IPv4 minimum, tunnels, Ethernet, jumbo).
constexpr std::array<std::uint16_t, 8> mss_table = {536, 1220, 1300, 1400, 1440, 1460, 4312, 8960};

std::uint32_t mss_index(std::uint16_t peer_mss) {
    std::uint32_t index = 0;
    for (std::uint32_t i = 0; i < mss_table.size(); ++i)
        if (mss_table[i] <= peer_mss) index = i;
    return index;
}

}  // namespace

std::uint32_t SynCookies::mac(const FourTuple& tuple, std::uint32_t client_isn, std::uint32_t t,
                              std::uint32_t index) const {
    std::array<std::uint8_t, 24> in{};
    auto tb = tuple_bytes(tuple);
    std::memcpy(in.data(), tb.data(), tb.size());
    std::uint32_t words[3] = {client_isn, t, index};
    for (int w = 0; w < 3; ++w)
        for (int b = 0; b < 4; ++b) in[12 + 4 * w + b] = std::uint8_t(words[w] >> (8 * b));
    return std::uint32_t(siphash24(secret_, in)) & 0xffffff;
}

std::uint32_t SynCookies::make(const FourTuple& tuple, std::uint32_t client_isn, std::uint16_t peer_mss,
                               std::uint64_t now_us) const {
    std::uint32_t t = std::uint32_t(now_us / period_us);
    std::uint32_t index = mss_index(peer_mss == 0 ? 536 : peer_mss);
    return ((t & 31) << 27) | (index << 24) | mac(tuple, client_isn, t, index);
}

std::optional<std::uint16_t> SynCookies::check(const FourTuple& tuple, std::uint32_t client_isn,
                                                std::uint32_t cookie, std::uint64_t now_us) const {
    std::uint32_t now_t = std::uint32_t(now_us / period_us);
    std::uint32_t index = (cookie >> 24) & 7;
    for (std::uint32_t age = 0; age < 2; ++age) {
        std::uint32_t t = now_t - age;
        if (((cookie >> 27) & 31) != (t & 31)) continue;
        if ((cookie & 0xffffff) == mac(tuple, client_isn, t, index)) return mss_table[index];
    }
    return std::nullopt;
}

}  // namespace bm::tcp
