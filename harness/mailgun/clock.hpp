// Time as the client machines see it: nanoseconds on a monotonic clock.
// The kernel transport reads CLOCK_MONOTONIC; the DPDK transport its TSC.
#pragma once

#include <cstdint>
#include <ctime>

namespace bm::mailgun {

class Clock {
public:
    virtual std::uint64_t now_ns() const = 0;

protected:
    ~Clock() = default;
};

class MonotonicClock final : public Clock {
public:
    std::uint64_t now_ns() const override {
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
    }
};

}  // namespace bm::mailgun
