// When the adaptive poll loop may sleep (--poll adaptive, --poll-idle-us).
//
// It busy-polls while there is work and for an idle spell after the last
// work (a client's next segment usually follows within microseconds, and a
// sleep costs a wake-up: tens of microseconds). Then it arms the wake-up
// sources (rx interrupts) and polls once more, so a frame that came before
// the arming is seen, not slept over; only if that pass is idle too does
// it sleep — until the earliest deadline, a received frame or a store
// completion (RxWaiter). Work in the armed pass disarms and keeps polling.
//
// A port that cannot wake the loop (no rx interrupts) is checked after
// sleeps that grow with the idle time: half the time since the last work,
// from 50 µs to 1 ms. A frame that follows a short pause is late by about
// as much as the pause was long, and an idle loop wakes at most 1,000
// times a second.
#pragma once

#include <cstdint>

namespace bm::dpdk {

enum class IdleStep : std::uint8_t {
    poll,    // keep polling
    arm,     // enable the wake-up sources, then poll once more
    disarm,  // work came in while armed: disable them, keep polling
    sleep,   // sleep, then disable them
};

class IdlePolicy {
public:
    explicit IdlePolicy(std::uint64_t idle_spell_us) : idle_spell_us_(idle_spell_us) {}

    // After each iteration: whether it did work, and the time it started.
    IdleStep after(bool worked, std::uint64_t now_us);
    // The longest sleep without rx interrupts (see above).
    std::uint64_t blind_sleep_us(std::uint64_t now_us) const;

    static constexpr std::uint64_t min_blind_sleep_us = 50;
    static constexpr std::uint64_t max_blind_sleep_us = 1000;

private:
    std::uint64_t idle_spell_us_;
    std::uint64_t last_work_us_ = 0;
    bool armed_ = false;
};

// How long to sleep to wake at `wake_at_us`: 0 when it has passed, at
// most `max_us`.
std::uint64_t sleep_us(std::uint64_t now_us, std::uint64_t wake_at_us, std::uint64_t max_us);
// The same as an epoll timeout in milliseconds: rounded up, since a timer
// must not run before its time (the engine's timer wheel has 1 ms ticks).
int whole_ms(std::uint64_t us);

}  // namespace bm::dpdk
