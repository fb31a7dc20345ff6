#include "apps/client_limits.hpp"

namespace bm::apps {

using std::chrono::milliseconds;

ClientLimits::Verdict ClientLimits::admit(std::uint32_t ip, milliseconds now) {
    if (!limits_anything()) return Verdict::admitted;
    // Entries whose window ended and that hold no connection are dropped
    // now and then, so a stream of one-shot addresses cannot grow the
    // table past one window's worth.
    if (now - last_sweep_ >= settings_.window) {
        last_sweep_ = now;
        std::erase_if(entries_, [&](const auto& kv) {
            return kv.second.open == 0 && now - kv.second.window_start >= settings_.window;
        });
    }
    Entry& entry = entries_[ip];
    if (entry.in_window == 0 || now - entry.window_start >= settings_.window) {
        entry.window_start = now;
        entry.in_window = 0;
    }
    if (entry.in_window < UINT32_MAX) ++entry.in_window;
    if (settings_.max_rate > 0 && entry.in_window > settings_.max_rate) return Verdict::too_fast;
    if (settings_.max_connections > 0 && entry.open >= settings_.max_connections)
        return Verdict::too_many_connections;
    ++entry.open;
    return Verdict::admitted;
}

void ClientLimits::release(std::uint32_t ip, milliseconds now) {
    auto it = entries_.find(ip);
    if (it == entries_.end()) return;
    if (it->second.open > 0) --it->second.open;
    forget_if_idle(it, now);
}

void ClientLimits::forget_if_idle(std::unordered_map<std::uint32_t, Entry>::iterator it, milliseconds now) {
    bool window_over = settings_.max_rate == 0 || now - it->second.window_start >= settings_.window;
    if (it->second.open == 0 && window_over) entries_.erase(it);
}

std::uint32_t ClientLimits::open_connections(std::uint32_t ip) const {
    auto it = entries_.find(ip);
    return it == entries_.end() ? 0 : it->second.open;
}

const char* verdict_text(ClientLimits::Verdict verdict) {
    switch (verdict) {
    case ClientLimits::Verdict::admitted: return "admitted";
    case ClientLimits::Verdict::too_many_connections: return "too many connections from this address";
    case ClientLimits::Verdict::too_fast: return "connection rate limit exceeded for this address";
    }
    return "refused";
}

}  // namespace bm::apps
