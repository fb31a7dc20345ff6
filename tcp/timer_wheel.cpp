#include "tcp/timer_wheel.hpp"

namespace bm::tcp {

TimerWheel::TimerWheel(std::uint32_t capacity)
    : head_(slots, none), next_(capacity, none), prev_(capacity, none), where_(capacity, none), due_(capacity, 0) {}

void TimerWheel::schedule(std::uint32_t id, std::uint64_t due_us) {
    if (where_[id] != none) unlink(id);
    due_[id] = due_us;
    // Round up so an entry never runs before its deadline; a deadline in a
    // tick already run goes into the next one.
    std::uint64_t tick = (due_us + tick_us - 1) / tick_us;
    if (started_ && tick <= done_tick_) tick = done_tick_ + 1;
    link(id, std::uint32_t(tick % slots));
}

void TimerWheel::cancel(std::uint32_t id) {
    if (where_[id] != none) unlink(id);
}

std::uint64_t TimerWheel::next_due_bound() const {
    for (std::uint64_t tick = done_tick_ + 1; tick <= done_tick_ + slots; ++tick)
        if (head_[tick % slots] != none) return tick * tick_us;
    return no_deadline;
}

void TimerWheel::link(std::uint32_t id, std::uint32_t slot) {
    where_[id] = slot;
    prev_[id] = none;
    next_[id] = head_[slot];
    if (head_[slot] != none) prev_[head_[slot]] = id;
    head_[slot] = id;
}

void TimerWheel::unlink(std::uint32_t id) {
    std::uint32_t slot = where_[id];
    if (prev_[id] != none)
        next_[prev_[id]] = next_[id];
    else
        head_[slot] = next_[id];
    if (next_[id] != none) prev_[next_[id]] = prev_[id];
    where_[id] = none;
}

}  // namespace bm::tcp
