// When the adaptive poll loop may sleep (--poll adaptive, --poll-idle-us).
//
// It busy-polls while there is work and for an idle spell after the last
// work (a client's next segment usually follows within microseconds, and a
// sleep costs a wake-up: tens of microseconds). Then it arms the wake-up
// sources (rx interrupts) and polls once more, so a frame that came before
// the arming is seen, not slept over; only if that pass is idle too does
// it sleep — until the earliest deadline, a received frame or a store
// completion (RxWaiter). Work in the armed pass disarms and keeps polling.
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

private:
    std::uint64_t idle_spell_us_;
    std::uint64_t last_work_us_ = 0;
    bool armed_ = false;
};

// The epoll timeout (milliseconds) that wakes at `wake_at_us`: rounded up,
// since a timer must not be run before its time (the engine's timer wheel
// has 1 ms ticks anyway); 0 when it has passed; at most `max_ms`.
int sleep_timeout_ms(std::uint64_t now_us, std::uint64_t wake_at_us, int max_ms);

}  // namespace bm::dpdk
