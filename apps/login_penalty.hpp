// Failed POP3 logins counted per client address across connections, and
// the growing wait before each later login is answered — Dovecot's
// auth_penalty (src/auth/auth-penalty.c, kept in its anvil): a client
// that reconnects to start a fresh connection's count gains nothing.
//
// The wait applies to the answer of every login attempt from an address
// with failures on record, the right password included: a fast +OK would
// tell a guesser to stop waiting for the slow -ERR. The first
// `free_failures` failures cost nothing (a user mistyping), then the wait
// doubles from `first_delay` up to `max_delay` (2 s … 15 s, Dovecot's
// AUTH_PENALTY_INIT_SECS / AUTH_PENALTY_MAX_SECS). Concurrent attempts from
// one address are answered one after another (each waits for the previous
// one's answer time), so opening many connections does not multiply the
// guessing rate; one login never waits more than `max_wait`.
//
// A success forgets the address; an entry with no failure for `expiry`
// (Dovecot's anvil keeps penalties an hour) is forgotten too. The table is
// bounded: past `max_entries` the oldest entries make room.
//
// Sans-I/O: time comes from the clock it is built with (a test fixes it).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bm::apps {

struct LoginPenaltySettings {
    std::uint32_t free_failures = 3;
    std::chrono::milliseconds first_delay{2000};
    std::chrono::milliseconds max_delay{15000};
    std::chrono::milliseconds max_wait{60000};
    std::chrono::seconds expiry{3600};
    std::size_t max_entries = 65536;
};

class LoginPenalty {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    using Settings = LoginPenaltySettings;

    LoginPenalty() : LoginPenalty(Settings{}) {}
    explicit LoginPenalty(Settings settings, Clock clock = std::chrono::steady_clock::now);

    // A login from `ip` starts now: how long its answer is held, whatever
    // the password check says (zero for an address with no penalty).
    std::chrono::milliseconds hold_for(std::string_view ip);
    void failed(std::string_view ip);
    void succeeded(std::string_view ip);

    // Failures on record for `ip` (0 once expired or forgotten).
    std::uint32_t failures(std::string_view ip) const;
    std::size_t size() const { return entries_.size(); }
    std::chrono::steady_clock::time_point now() const { return clock_(); }
    const Settings& settings() const { return settings_; }

private:
    struct Entry {
        std::uint32_t failures = 0;
        std::chrono::steady_clock::time_point last_failure{};
        std::chrono::steady_clock::time_point busy_until{};  // the last held answer's time
    };
    std::chrono::milliseconds delay_after(std::uint32_t failures) const;
    Entry* live_entry(std::string_view ip);
    bool expired(const Entry& entry, std::chrono::steady_clock::time_point now) const;
    void make_room(std::chrono::steady_clock::time_point now);

    Settings settings_;
    Clock clock_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace bm::apps
