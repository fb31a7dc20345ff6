// One timer per TCB on a hashed timing wheel (Varghese & Lauck): 4096 slots
// of 1 ms, so arming, re-arming and cancelling are O(1) list operations and
// on_timers() visits only the slots whose tick has passed. Each TCB is
// linked under its earliest deadline (retransmit, persist, delayed ACK,
// wake-up, linger, idle); when it fires the engine checks every deadline
// against `now` and re-arms for the next. Deadlines beyond one turn (4.1 s:
// idle timeouts, TIME-WAIT) stay in their slot and are skipped until their
// turn comes — an idle connection costs one visit per 4 s.
//
// Why not per-TCB deadlines scanned each pass: with 10,000 idle
// connections the poll loop would touch 10,000 TCBs per iteration. Why not
// a heap: O(log n) per re-arm, and a TCB re-arms on nearly every segment.
// The idle deadline is lazy: activity does not move the entry, it only
// moves last_activity; an early visit re-arms for the real deadline.
#pragma once

#include <cstdint>
#include <vector>

namespace bm::tcp {

class TimerWheel {
public:
    static constexpr std::uint32_t slots = 4096;
    static constexpr std::uint64_t tick_us = 1000;

    explicit TimerWheel(std::uint32_t capacity);

    // The wheel's time starts at the first call; the engine calls it on
    // every entry point before scheduling anything.
    void begin(std::uint64_t now_us) {
        if (started_) return;
        started_ = true;
        done_tick_ = now_us / tick_us - 1;
    }

    // (Re)arms entry `id` for `due_us`; never fires before it.
    void schedule(std::uint32_t id, std::uint64_t due_us);
    void cancel(std::uint32_t id);
    bool armed(std::uint32_t id) const { return where_[id] != none; }
    // No entry can fire before this time: the start of the first tick not
    // yet run whose slot holds an entry (that entry may belong to a later
    // turn: a caller sleeping until then wakes early, never late).
    // no_deadline when nothing is armed. Scans at most one turn of slots:
    // for a poll loop about to sleep, not for every iteration.
    static constexpr std::uint64_t no_deadline = ~std::uint64_t(0);
    std::uint64_t next_due_bound() const;
    // Calls fire(id) for every entry due at or before now_us. fire may
    // schedule or cancel entry `id` only (the slot being run is detached).
    template <typename Fire>
    void expire(std::uint64_t now_us, Fire&& fire);

private:
    static constexpr std::uint32_t none = 0xffffffffu;
    void link(std::uint32_t id, std::uint32_t slot);
    void unlink(std::uint32_t id);
    template <typename Fire>
    void run_slot(std::uint32_t slot, std::uint64_t now_us, Fire& fire);

    std::vector<std::uint32_t> head_;  // per slot
    std::vector<std::uint32_t> next_, prev_, where_;
    std::vector<std::uint64_t> due_;
    std::uint64_t done_tick_ = 0;  // every tick up to this one has run
    bool started_ = false;
};

template <typename Fire>
void TimerWheel::run_slot(std::uint32_t slot, std::uint64_t now_us, Fire& fire) {
    std::uint32_t id = head_[slot];
    head_[slot] = none;
    while (id != none) {
        std::uint32_t following = next_[id];
        where_[id] = none;
        if (due_[id] <= now_us)
            fire(id);
        else
            link(id, slot);  // a later turn
        id = following;
    }
}

template <typename Fire>
void TimerWheel::expire(std::uint64_t now_us, Fire&& fire) {
    begin(now_us);
    std::uint64_t now_tick = now_us / tick_us;
    if (now_tick <= done_tick_) return;
    if (now_tick - done_tick_ >= slots) {
        // More than a turn went by: every slot is due once.
        done_tick_ = now_tick;
        for (std::uint32_t s = 0; s < slots; ++s) run_slot(s, now_us, fire);
        return;
    }
    while (done_tick_ < now_tick) {
        ++done_tick_;
        run_slot(std::uint32_t(done_tick_ % slots), now_us, fire);
    }
}

}  // namespace bm::tcp
