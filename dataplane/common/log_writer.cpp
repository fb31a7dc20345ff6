#include "dataplane/common/log_writer.hpp"

#include <chrono>
#include <cstring>
#include <ctime>
#include <sys/time.h>

namespace bm {
namespace {

// How long the writer sleeps when the ring is empty: a log line is seen
// within this time, and the thread costs nothing measurable meanwhile.
constexpr auto idle_sleep = std::chrono::milliseconds(2);

}  // namespace

std::size_t format_log_time(char (&out)[32]) {
    timeval tv{};
    gettimeofday(&tv, nullptr);
    tm utc{};
    gmtime_r(&tv.tv_sec, &utc);
    std::size_t n = std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &utc);
    return n + std::snprintf(out + n, sizeof out - n, ".%03ldZ", long(tv.tv_usec / 1000));
}

namespace {
constexpr std::size_t padded(std::size_t n) { return (n + 15) & ~std::size_t(15); }
}  // namespace

LogWriter::LogWriter(std::size_t ring_bytes, std::size_t reserved_bytes)
    : capacity_(ring_bytes),
      reserved_(reserved_bytes == std::size_t(-1) ? ring_bytes / 8 : reserved_bytes),
      ring_(new char[ring_bytes]),
      thread_([this] { run(); }) {}

LogWriter::~LogWriter() {
    stopping_.store(true, std::memory_order_release);
    thread_.join();
}

// A record never wraps: if it does not fit before the end of the ring, the
// rest is marked unused and the record starts at the beginning.
bool LogWriter::push(std::FILE* to, std::string_view line, Priority priority) {
    std::size_t n = line.size() < line_bytes ? line.size() : line_bytes;
    std::size_t record = padded(sizeof(Header) + n);
    std::size_t tail = tail_.load(std::memory_order_relaxed);
    std::size_t to_end = capacity_ - tail % capacity_;
    std::size_t need = record + (to_end < record ? to_end : 0);
    if (priority == Priority::normal && need + reserved_ > free_bytes(tail)) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    if (need > free_bytes(tail)) {
        security_waits_.fetch_add(1, std::memory_order_relaxed);
        while (need > free_bytes(tail)) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    if (to_end < record) {
        header_at(tail)->size = wrap_marker;
        tail += to_end;
    }
    Header* header = header_at(tail);
    char* text = reinterpret_cast<char*>(header + 1);
    std::memcpy(text, line.data(), n);
    if (n == line_bytes) text[n - 1] = '\n';  // cut: still one line
    header->to = to;
    header->size = std::uint32_t(n);
    tail_.store(tail + record, std::memory_order_release);
    return true;
}

void LogWriter::run() {
    for (;;) {
        bool wrote = false;
        while (write_one()) wrote = true;
        if (stopping_.load(std::memory_order_acquire)) {
            while (write_one()) {}  // what came in meanwhile
            return;
        }
        if (!wrote) std::this_thread::sleep_for(idle_sleep);
    }
}

bool LogWriter::write_one() {
    std::size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_acquire)) return false;
    const Header* header = header_at(head);
    if (header->size == wrap_marker) {
        head_.store(head + (capacity_ - head % capacity_), std::memory_order_release);
        return true;
    }
    report_drops(header->to);
    std::fwrite(header + 1, 1, header->size, header->to);  // line-buffered: out with its newline
    head_.store(head + padded(sizeof(Header) + header->size), std::memory_order_release);
    return true;
}

void LogWriter::report_drops(std::FILE* to) {
    std::uint64_t dropped = dropped_.load(std::memory_order_relaxed);
    if (dropped == reported_) return;
    char stamp[32];
    format_log_time(stamp);
    std::fprintf(to, "%s log - dropped lines=%llu\n", stamp,
                 static_cast<unsigned long long>(dropped - reported_));
    reported_ = dropped;
}

}  // namespace bm
