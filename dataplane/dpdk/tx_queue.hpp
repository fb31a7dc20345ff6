// Frames staged for the next tx burst. The engine emits segments one at a
// time while the loop processes a burst; they leave together at the end of
// the iteration. What the PMD refuses stays staged for the next burst.
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "dataplane/dpdk/counters.hpp"

namespace bm::dpdk {

class TxQueue {
public:
    static constexpr std::uint16_t capacity = 2048;

    TxQueue(std::uint16_t port, Counters& counters) : port_(port), counters_(counters) {}
    ~TxQueue() { discard(); }
    TxQueue(const TxQueue&) = delete;
    TxQueue& operator=(const TxQueue&) = delete;

    bool empty() const { return size_ == 0; }

    // Takes ownership of `frame`. When full, bursts first; if the PMD still
    // takes nothing the frame is dropped (counted; TCP retransmits).
    void stage(rte_mbuf* frame) {
        if (size_ == capacity) flush();
        if (size_ == capacity) {
            rte_pktmbuf_free(frame);
            counters_.drop(DropReason::tx_ring_full);
            return;
        }
        frames_[size_++] = frame;
        counters_.tx(Protocol::ethernet);
    }

    void flush() {
        if (size_ == 0) return;
        std::uint64_t bytes = 0;
        for (std::uint16_t i = 0; i < size_; ++i) bytes += frames_[i]->pkt_len;
        std::uint16_t sent = rte_eth_tx_burst(port_, 0, frames_.data(), size_);
        for (std::uint16_t i = sent; i < size_; ++i) bytes -= frames_[i]->pkt_len;
        counters_.port.tx_packets.add(sent);
        counters_.port.tx_bytes.add(bytes);
        if (sent < size_) {
            counters_.port.tx_retried.add(size_ - sent);
            std::memmove(frames_.data(), frames_.data() + sent, (size_ - sent) * sizeof(rte_mbuf*));
        }
        size_ = std::uint16_t(size_ - sent);
    }

    void discard() {
        for (std::uint16_t i = 0; i < size_; ++i) rte_pktmbuf_free(frames_[i]);
        size_ = 0;
    }

private:
    std::uint16_t port_;
    Counters& counters_;
    std::array<rte_mbuf*, capacity> frames_{};
    std::uint16_t size_ = 0;
};

}  // namespace bm::dpdk
