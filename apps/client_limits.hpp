// Connections per client address, for one service: how many are open and
// how many began in the current minute — Postfix's anvil(8) behind
// smtpd_client_connection_count_limit and
// smtpd_client_connection_rate_limit (anvil_rate_time_unit = 60 s: a
// fixed window that starts with the address's first connection in it).
//
// Both builds ask admit() when a client connects (the kernel build after
// accept(2), the DPDK engine when the handshake completes) and release()
// when an admitted connection ends. A limit of 0 is no limit. Clients the
// caller exempts (those allowed to relay, as Postfix's
// smtpd_client_event_limit_exceptions = $mynetworks) are not asked.
//
// Sans-I/O: time is an argument (a monotonic count from any origin).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace bm::apps {

struct ClientLimitSettings {
    std::uint32_t max_connections = 50;  // --max-conn-per-ip
    std::uint32_t max_rate = 0;          // --max-conn-rate-per-ip, per window
    std::chrono::milliseconds window{60000};
};

class ClientLimits {
public:
    enum class Verdict { admitted, too_many_connections, too_fast };
    using Settings = ClientLimitSettings;

    ClientLimits() = default;
    explicit ClientLimits(Settings settings) : settings_(settings) {}

    // A client at `ip` (IPv4, host order) connects. A refused one is not
    // counted as open (nothing to release) but counts toward the rate:
    // hammering does not earn an earlier turn.
    Verdict admit(std::uint32_t ip, std::chrono::milliseconds now);
    // An admitted connection of `ip` ended.
    void release(std::uint32_t ip, std::chrono::milliseconds now);

    std::uint32_t open_connections(std::uint32_t ip) const;
    std::size_t tracked() const { return entries_.size(); }
    bool limits_anything() const { return settings_.max_connections > 0 || settings_.max_rate > 0; }

private:
    struct Entry {
        std::uint32_t open = 0;
        std::uint32_t in_window = 0;
        std::chrono::milliseconds window_start{0};
    };
    void forget_if_idle(std::unordered_map<std::uint32_t, Entry>::iterator it,
                        std::chrono::milliseconds now);

    Settings settings_;
    // One entry per address with an open connection or a rate window still
    // running: bounded by the connections the server holds plus those that
    // arrived in the last window (swept at each release and on growth).
    std::unordered_map<std::uint32_t, Entry> entries_;
    std::chrono::milliseconds last_sweep_{0};
};

const char* verdict_text(ClientLimits::Verdict verdict);

}  // namespace bm::apps
