#include "dataplane/dpdk/idle_policy.hpp"

#include <algorithm>
#include <limits>

namespace bm::dpdk {

IdleStep IdlePolicy::after(bool worked, std::uint64_t now_us) {
    if (worked) {
        last_work_us_ = now_us;
        if (!armed_) return IdleStep::poll;
        armed_ = false;
        return IdleStep::disarm;
    }
    if (now_us - last_work_us_ < idle_spell_us_) return IdleStep::poll;
    if (!armed_) {
        armed_ = true;
        return IdleStep::arm;
    }
    armed_ = false;  // the sleeper disarms when it wakes
    return IdleStep::sleep;
}

std::uint64_t IdlePolicy::blind_sleep_us(std::uint64_t now_us) const {
    std::uint64_t half_idle = (now_us - last_work_us_) / 2;
    return std::clamp(half_idle, min_blind_sleep_us, max_blind_sleep_us);
}

std::uint64_t sleep_us(std::uint64_t now_us, std::uint64_t wake_at_us, std::uint64_t max_us) {
    if (wake_at_us <= now_us) return 0;
    return std::min(wake_at_us - now_us, max_us);
}

int whole_ms(std::uint64_t us) {
    std::uint64_t ms = us / 1000 + (us % 1000 != 0);
    return ms > std::uint64_t(std::numeric_limits<int>::max()) ? std::numeric_limits<int>::max() : int(ms);
}

}  // namespace bm::dpdk
