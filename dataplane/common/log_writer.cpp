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

LogWriter::LogWriter(std::size_t slots)
    : capacity_(slots), slots_(new Slot[slots]), thread_([this] { run(); }) {}

LogWriter::~LogWriter() {
    stopping_.store(true, std::memory_order_release);
    thread_.join();
}

bool LogWriter::push(std::FILE* to, std::string_view line) {
    std::size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_.load(std::memory_order_acquire) == capacity_) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    Slot& slot = slots_[tail % capacity_];
    std::size_t n = line.size() < line_bytes ? line.size() : line_bytes;
    std::memcpy(slot.text, line.data(), n);
    if (n == line_bytes) slot.text[n - 1] = '\n';  // cut: still one line
    slot.to = to;
    slot.size = std::uint32_t(n);
    tail_.store(tail + 1, std::memory_order_release);
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
    const Slot& slot = slots_[head % capacity_];
    report_drops(slot.to);
    std::fwrite(slot.text, 1, slot.size, slot.to);  // line-buffered: out with its newline
    head_.store(head + 1, std::memory_order_release);
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
