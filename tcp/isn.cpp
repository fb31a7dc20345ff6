#include "tcp/isn.hpp"

namespace bm::tcp {

std::array<std::uint8_t, 12> tuple_bytes(const FourTuple& t) {
    return {std::uint8_t(t.local_ip >> 24),  std::uint8_t(t.local_ip >> 16),
            std::uint8_t(t.local_ip >> 8),   std::uint8_t(t.local_ip),
            std::uint8_t(t.local_port >> 8), std::uint8_t(t.local_port),
            std::uint8_t(t.remote_ip >> 24), std::uint8_t(t.remote_ip >> 16),
            std::uint8_t(t.remote_ip >> 8),  std::uint8_t(t.remote_ip),
            std::uint8_t(t.remote_port >> 8), std::uint8_t(t.remote_port)};
}

std::uint32_t IsnGenerator::isn(const FourTuple& tuple, std::uint64_t now_us) const {
    auto bytes = tuple_bytes(tuple);
    std::uint32_t f = std::uint32_t(siphash24(secret_, bytes));
    // RFC 6528 §3: M is a timer that ticks every 4 microseconds.
    std::uint32_t m = fixed_ ? 0 : std::uint32_t(now_us / 4);
    return m + f;
}

}  // namespace bm::tcp
