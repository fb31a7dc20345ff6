// The engine's figures (Engine::counters), read by the dataplane's
// counters and telemetry without the engine's header.
#pragma once

#include <cstdint>

namespace bm::tcp {

struct Counters {
    std::uint64_t segments_in = 0, segments_out = 0, pure_acks_out = 0, retransmits = 0;
    std::uint64_t resets_out = 0, challenge_acks = 0, syn_cookies_sent = 0, syn_cookies_accepted = 0;
    std::uint64_t dropped_bad = 0, dropped_no_tcb = 0, dropped_out_of_window = 0, dropped_no_room = 0;
    std::uint64_t connections_opened = 0, connections_closed = 0, refused_max_conn = 0,
                  refused_client_limit = 0;  // --max-conn-per-ip, --max-conn-rate-per-ip
    std::uint64_t active_opens = 0, active_open_failures = 0;  // connect(): SYNs started, never established
};

}  // namespace bm::tcp
