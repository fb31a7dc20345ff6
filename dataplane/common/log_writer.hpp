// Takes the log's writes off the polling core. The DPDK build's loop must
// not block in write(2) (a slow or full disk would stall every connection),
// so it only copies a finished line into a bounded single-producer byte
// ring (records of the line's own length: a fixed-slot ring would touch
// far more memory than the lines need);
// a thread of its own writes the lines out in order. A full ring drops the
// line and counts it; the count is written as its own line once there is
// room again, so a gap in the log is never silent.
//
// Security lines (failed logins, refusals: EventLog's is_security_event)
// are never dropped. Ordinary lines may fill the ring only up to a reserve
// (an eighth of it by default) that is kept for security lines, so a flood
// of ordinary lines (connects, deliveries) cannot push one out; a security
// line that finds even the reserve full waits for the writer to make room.
// That wait blocks the poll loop for as long as the disk takes to write the
// backlog — what the kernel build does for every line — and only happens
// when security lines alone outrun the disk, e.g. a password-guessing
// flood, where slowing the server down is the lesser harm than losing the
// lines that would get the guesser banned.
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

    enum class Priority { normal, security };

    // ring_bytes: a multiple of 16, at least line_bytes + 16 (twice that
    // for security lines, so one always fits once the ring drains). reserved_bytes:
    // the part of the ring only security lines may use (default: an eighth).
    explicit LogWriter(std::size_t ring_bytes = 256 * 1024, std::size_t reserved_bytes = std::size_t(-1));
    ~LogWriter();  // writes out what is queued, then stops the thread
    LogWriter(const LogWriter&) = delete;
    LogWriter& operator=(const LogWriter&) = delete;

    // Queues one line (its newline included) for `to`; false if dropped
    // (never for a security line: it waits for room instead).
    bool push(std::FILE* to, std::string_view line, Priority priority = Priority::normal);
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    // How often a security line had to wait for the writer.
    std::uint64_t security_waits() const { return security_waits_.load(std::memory_order_relaxed); }

private:
    // Each record: this header, then `size` octets, padded to 16.
    struct Header {
        std::FILE* to;
        std::uint32_t size;  // wrap_marker: the rest of the ring is unused
        std::uint32_t unused;
    };
    static constexpr std::uint32_t wrap_marker = 0xffffffffu;
    void run();
    std::size_t free_bytes(std::size_t tail) const {
        return capacity_ - (tail - head_.load(std::memory_order_acquire));
    }
    bool write_one();
    void report_drops(std::FILE* to);
    Header* header_at(std::size_t offset) { return reinterpret_cast<Header*>(ring_.get() + offset % capacity_); }

    std::size_t capacity_;
    std::size_t reserved_;  // ordinary lines leave this much free
    std::unique_ptr<char[]> ring_;  // new[] aligns to 16 on this ABI, as Header needs
    std::atomic<std::size_t> head_{0};  // octets the writer has taken, ever
    std::atomic<std::size_t> tail_{0};  // octets the producer has filled, ever
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> security_waits_{0};
    std::uint64_t reported_ = 0;        // writer's side: drops already written
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace bm
