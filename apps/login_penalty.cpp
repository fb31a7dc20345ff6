#include "apps/login_penalty.hpp"

#include <algorithm>

namespace bm::apps {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

LoginPenalty::LoginPenalty(Settings settings, Clock clock)
    : settings_(settings), clock_(std::move(clock)) {}

// Past the free failures: first_delay, doubled for each further failure,
// capped at max_delay.
milliseconds LoginPenalty::delay_after(std::uint32_t failures) const {
    if (failures < settings_.free_failures) return milliseconds(0);
    milliseconds delay = settings_.first_delay;
    for (std::uint32_t n = settings_.free_failures; n < failures && delay < settings_.max_delay; ++n)
        delay *= 2;
    return std::min(delay, settings_.max_delay);
}

bool LoginPenalty::expired(const Entry& entry, steady_clock::time_point now) const {
    return now - entry.last_failure >= settings_.expiry && now >= entry.busy_until;
}

LoginPenalty::Entry* LoginPenalty::live_entry(std::string_view ip) {
    auto it = entries_.find(std::string(ip));
    if (it == entries_.end()) return nullptr;
    if (!expired(it->second, clock_())) return &it->second;
    entries_.erase(it);
    return nullptr;
}

milliseconds LoginPenalty::hold_for(std::string_view ip) {
    Entry* entry = live_entry(ip);
    if (!entry) return milliseconds(0);
    milliseconds delay = delay_after(entry->failures);
    if (delay == milliseconds(0)) return delay;
    steady_clock::time_point now = clock_();
    // One answer at a time per address: this one comes `delay` after the
    // previous held one, so parallel connections guess no faster.
    steady_clock::time_point answer_at = std::max(now, entry->busy_until) + delay;
    answer_at = std::min(answer_at, now + settings_.max_wait);
    entry->busy_until = std::max(entry->busy_until, answer_at);
    return std::chrono::duration_cast<milliseconds>(answer_at - now);
}

void LoginPenalty::failed(std::string_view ip) {
    steady_clock::time_point now = clock_();
    Entry* entry = live_entry(ip);
    if (!entry) {
        if (entries_.size() >= settings_.max_entries) make_room(now);
        entry = &entries_[std::string(ip)];
    }
    if (entry->failures < UINT32_MAX) ++entry->failures;
    entry->last_failure = now;
}

void LoginPenalty::succeeded(std::string_view ip) { entries_.erase(std::string(ip)); }

std::uint32_t LoginPenalty::failures(std::string_view ip) const {
    auto it = entries_.find(std::string(ip));
    if (it == entries_.end() || expired(it->second, clock_())) return 0;
    return it->second.failures;
}

// Expired entries go first; if none has, the one whose last failure is
// oldest (a flood of addresses then forgets the least recent guesser, never
// refuses to count a new one).
void LoginPenalty::make_room(steady_clock::time_point now) {
    std::erase_if(entries_, [&](const auto& kv) { return expired(kv.second, now); });
    if (entries_.size() < settings_.max_entries) return;
    auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
        return a.second.last_failure < b.second.last_failure;
    });
    if (oldest != entries_.end()) entries_.erase(oldest);
}

}  // namespace bm::apps
