#include "dataplane/dpdk/idle_policy.hpp"

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

int sleep_timeout_ms(std::uint64_t now_us, std::uint64_t wake_at_us, int max_ms) {
    if (wake_at_us <= now_us) return 0;
    std::uint64_t wait_us = wake_at_us - now_us;
    std::uint64_t ms = wait_us / 1000 + (wait_us % 1000 != 0);
    return ms > std::uint64_t(max_ms) ? max_ms : int(ms);
}

}  // namespace bm::dpdk
