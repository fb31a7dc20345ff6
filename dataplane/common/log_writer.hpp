// Takes the log's writes off the polling core. The DPDK build's loop must
// not block in write(2) (a slow or full disk would stall every connection),
// so it only copies a finished line into a bounded single-producer byte
// ring (records of the line's own length: a fixed-slot ring would touch
// far more memory than the lines need);
// a thread of its own writes the lines out in order. A full ring drops the
// line and counts it; the count is written as its own line once there is
// room again, so a gap in the log is never silent.
//
// One producer: the thread that runs the poll loop (also the main thread
// before it starts). The kernel build writes its log directly instead.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string_view>
#include <thread>

namespace bm {

// "2026-01-01T10:00:00.000Z": the time field of every log line (UTC, ms).
// Returns its length.
std::size_t format_log_time(char (&out)[32]);

class LogWriter {
public:
    static constexpr std::size_t line_bytes = 2048;  // longer lines are cut

    // ring_bytes: a multiple of 16, at least line_bytes + 16.
    explicit LogWriter(std::size_t ring_bytes = 256 * 1024);
    ~LogWriter();  // writes out what is queued, then stops the thread
    LogWriter(const LogWriter&) = delete;
    LogWriter& operator=(const LogWriter&) = delete;

    // Queues one line (its newline included) for `to`; false if dropped.
    bool push(std::FILE* to, std::string_view line);
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    // Each record: this header, then `size` octets, padded to 16.
    struct Header {
        std::FILE* to;
        std::uint32_t size;  // wrap_marker: the rest of the ring is unused
        std::uint32_t unused;
    };
    static constexpr std::uint32_t wrap_marker = 0xffffffffu;
    void run();
    bool write_one();
    void report_drops(std::FILE* to);
    Header* header_at(std::size_t offset) { return reinterpret_cast<Header*>(ring_.get() + offset % capacity_); }

    std::size_t capacity_;
    std::unique_ptr<char[]> ring_;  // new[] aligns to 16 on this ABI, as Header needs
    std::atomic<std::size_t> head_{0};  // octets the writer has taken, ever
    std::atomic<std::size_t> tail_{0};  // octets the producer has filled, ever
    std::atomic<std::uint64_t> dropped_{0};
    std::uint64_t reported_ = 0;        // writer's side: drops already written
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace bm
