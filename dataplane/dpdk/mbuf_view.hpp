// Views of an mbuf's bytes and its rx checksum verdicts, for every receive
// path on a DPDK port (the server's IPv4 host and the mailgun's transport).
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <optional>
#include <span>

namespace bm::dpdk {

// The frame's bytes (a contiguous, single-segment mbuf).
inline std::span<std::uint8_t> bytes_of(rte_mbuf* m) { return {rte_pktmbuf_mtod(m, std::uint8_t*), m->data_len}; }

// Where a new frame is built: the whole of a fresh mbuf.
inline std::span<std::uint8_t> room_of(rte_mbuf* m) {
    return {rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_tailroom(m)};
}

// RX checksum flags: true verified good, false bad, nullopt: check in software.
inline std::optional<bool> rx_verdict(std::uint64_t flags, std::uint64_t mask, std::uint64_t good,
                                      std::uint64_t bad) {
    std::uint64_t v = flags & mask;
    if (v == good) return true;
    if (v == bad) return false;
    return std::nullopt;
}

}  // namespace bm::dpdk
