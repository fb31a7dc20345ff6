#include "dataplane/dpdk/counters.hpp"

namespace bm::dpdk {

void Counters::snapshot_engine(const tcp::Counters& c) {
    const std::uint64_t values[engine_counter_count] = {
        c.segments_in, c.segments_out, c.pure_acks_out, c.retransmits, c.resets_out,
        c.challenge_acks, c.syn_cookies_sent, c.syn_cookies_accepted, c.dropped_bad, c.dropped_no_tcb,
        c.dropped_out_of_window, c.dropped_no_room, c.connections_opened, c.connections_closed,
        c.refused_max_conn, c.refused_client_limit,
    };
    for (std::size_t i = 0; i < engine_counter_count; ++i) engine[i].set(values[i]);
}

std::string format_counters(const Counters& counters, bool nonzero_drops_only) {
    std::string text;
    counters.for_each([&](std::string_view group, std::string_view name, std::uint64_t value) {
        if (nonzero_drops_only && group == "drop" && value == 0) return;
        text.append(group).append(".").append(name).append(" ").append(std::to_string(value)).append("\n");
    });
    return text;
}

}  // namespace bm::dpdk
