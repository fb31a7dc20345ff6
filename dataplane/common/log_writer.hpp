// Takes the log's writes off the polling core. The DPDK build's loop must
// not block in write(2) (a slow or full disk would stall every connection),
// so it only copies a finished line into a bounded single-producer ring;
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

    explicit LogWriter(std::size_t slots = 4096);
    ~LogWriter();  // writes out what is queued, then stops the thread
    LogWriter(const LogWriter&) = delete;
    LogWriter& operator=(const LogWriter&) = delete;

    // Queues one line (its newline included) for `to`; false if dropped.
    bool push(std::FILE* to, std::string_view line);
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    struct Slot {
        std::FILE* to;
        std::uint32_t size;
        char text[line_bytes];
    };
    void run();
    bool write_one();
    void report_drops(std::FILE* to);

    std::size_t capacity_;
    std::unique_ptr<Slot[]> slots_;
    std::atomic<std::size_t> head_{0};  // next slot the writer takes
    std::atomic<std::size_t> tail_{0};  // next slot the producer fills
    std::atomic<std::uint64_t> dropped_{0};
    std::uint64_t reported_ = 0;        // writer's side: drops already written
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace bm
