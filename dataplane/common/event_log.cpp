#include "dataplane/common/event_log.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include "dataplane/common/log_writer.hpp"

namespace bm {
namespace {

// Appends raw text (the fixed parts of a line: separators, the time).
struct LineBuffer {
    char* data;
    std::size_t capacity;  // the final newline always fits
    std::size_t size = 0;

    void raw(std::string_view text) {
        std::size_t n = std::min(text.size(), capacity - 1 - size);
        std::memcpy(data + size, text.data(), n);
        size += n;
    }
    void field(std::string_view text) { size += escape_log_field(text, data + size, capacity - 1 - size); }
    void number(std::uint64_t value) {
        char digits[24];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
        (void)ec;
        raw(std::string_view(digits, std::size_t(end - digits)));
    }
    std::size_t finish() {
        data[size++] = '\n';
        return size;
    }
};

// A heap read after free: in a plain build it reads stale bytes and goes
// on; AddressSanitizer reports it (harness self-test only).
[[gnu::noinline]] char read_after_free() {
    auto* bytes = new char[16]();
    char* volatile stale = bytes;  // the compiler cannot tell it is `bytes`
    delete[] bytes;
    return stale[0];
}

void inject_test_fault() {
    const char* fault = std::getenv("BAREMAIL_TEST_FAULT");
    if (fault && std::string_view(fault) == "use-after-free") {
        [[maybe_unused]] volatile char sink = read_after_free();
        return;
    }
    std::abort();
}

}  // namespace

// The events a failed login, a refused connection or a refused recipient
// or message log (apps/, tcp/session_glue.cpp, dataplane/kernel).
bool is_security_event(std::string_view event) {
    // auth-delayed: a login held by the per-address penalty (the failures
    // so far and the wait), what fail2ban counts when refused says nothing.
    return event == "auth-failed" || event == "auth-delayed" || event == "refused" || event == "rejected";
}

EventLog::~EventLog() {
    if (owned_) std::fclose(file_);
}

void EventLog::open(const std::string& path, bool verbose) {
    verbose_ = verbose;
    if (const char* event = std::getenv("BAREMAIL_TEST_ABORT_ON_EVENT")) abort_on_event_ = event;
    if (path.empty()) return;
    std::FILE* f = std::fopen(path.c_str(), "a");
    if (!f) throw std::runtime_error("cannot open log file " + path + ": " + std::strerror(errno));
    std::setvbuf(f, nullptr, _IOLBF, 0);  // a line survives kill -9
    file_ = f;
    owned_ = true;
    path_ = path;
}

void EventLog::reopen() {
    if (!owned_) return;
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) throw std::runtime_error("cannot open log file " + path_ + ": " + std::strerror(errno));
    // Under the stream's lock, so no line is half in each file.
    flockfile(file_);
    std::fflush(file_);
    ::dup2(fd, fileno(file_));
    funlockfile(file_);
    ::close(fd);
}

void EventLog::detach_from_terminal() { debug_ = file_; }

// Every line is put together in one buffer first, so it leaves in one
// write, whole, whichever thread writes it; a line longer than the buffer
// is cut, keeping its newline.
std::size_t EventLog::format_event(char* text, std::size_t room, std::string_view service, std::string_view peer,
                                   std::string_view event, std::string_view detail) {
    char stamp[32];
    std::size_t stamp_length = format_log_time(stamp);
    LineBuffer line{text, room};
    line.raw(std::string_view(stamp, stamp_length));
    line.raw(" ");
    line.field(service);
    line.raw(" ");
    line.field(peer);
    line.raw(" ");
    line.field(event);
    line.raw(" ");
    line.field(detail);
    return line.finish();
}

void EventLog::event_now(std::string_view service, std::string_view peer, std::string_view event,
                         std::string_view detail) {
    char text[LogWriter::line_bytes];
    std::fwrite(text, 1, format_event(text, sizeof text, service, peer, event, detail), file_);
}

void EventLog::event(std::string_view service, std::string_view peer, std::string_view event,
                     std::string_view detail) {
    char text[LogWriter::line_bytes];
    emit(file_, text, format_event(text, sizeof text, service, peer, event, detail), is_security_event(event));
    // The test harness's own test needs a server that crashes at a chosen
    // moment ("disconnect closed": when a session ends with QUIT) to prove
    // that its fixtures catch a crash after the last checked reply; with
    // BAREMAIL_TEST_FAULT=use-after-free the fault is one only a sanitizer
    // build notices, to prove that the sanitizer run catches it.
    if (!abort_on_event_.empty() && abort_on_event_.size() == event.size() + 1 + detail.size() &&
        abort_on_event_.starts_with(event) && abort_on_event_.ends_with(detail) &&
        abort_on_event_[event.size()] == ' ')
        inject_test_fault();
}

void EventLog::debug(std::uint64_t connection, std::string_view text) { debug_line("", connection, text); }

void EventLog::debug_line(std::string_view prefix, std::uint64_t connection, std::string_view text) {
    if (!verbose_) return;
    char out[LogWriter::line_bytes];
    LineBuffer line{out, sizeof out};
    line.raw("[");
    line.number(connection);
    line.raw("] ");
    line.raw(prefix);
    line.field(text);
    emit(debug_, out, line.finish(), false);
}

void EventLog::emit(std::FILE* to, char* line, std::size_t length, bool security) {
    if (writer_) {
        writer_->push(to, std::string_view(line, length),
                      security ? LogWriter::Priority::security : LogWriter::Priority::normal);
        return;
    }
    std::fwrite(line, 1, length, to);
}

}  // namespace bm
