#include "dataplane/common/event_log.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <sys/time.h>

#include "dataplane/common/log_writer.hpp"

namespace bm {

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
}

void EventLog::detach_from_terminal() { debug_ = file_; }

// Every line is formatted into one buffer first, so it leaves in one
// write, whole, whichever thread writes it.
void EventLog::event(std::string_view service, std::string_view peer, std::string_view event,
                     std::string_view detail) {
    char stamp[32];
    format_log_time(stamp);
    char line[LogWriter::line_bytes];
    int n = std::snprintf(line, sizeof line, "%s %.*s %.*s %.*s %.*s\n", stamp, int(service.size()),
                          service.data(), int(peer.size()), peer.data(), int(event.size()), event.data(),
                          int(detail.size()), detail.data());
    emit(file_, line, n);
    // The test harness's own test needs a server that crashes at a chosen
    // moment ("disconnect closed": when a session ends with QUIT) to prove
    // that its fixtures catch a crash after the last checked reply.
    if (!abort_on_event_.empty() && abort_on_event_.size() == event.size() + 1 + detail.size() &&
        abort_on_event_.starts_with(event) && abort_on_event_.ends_with(detail) &&
        abort_on_event_[event.size()] == ' ')
        std::abort();
}

void EventLog::debug(std::uint64_t connection, std::string_view text) { debug_line("", connection, text); }

void EventLog::debug_line(std::string_view prefix, std::uint64_t connection, std::string_view line) {
    if (!verbose_) return;
    char out[LogWriter::line_bytes];
    int n = std::snprintf(out, sizeof out, "[%llu] %.*s%.*s\n", static_cast<unsigned long long>(connection),
                          int(prefix.size()), prefix.data(), int(line.size()), line.data());
    emit(debug_, out, n);
}

// A line longer than the buffer is cut, keeping its newline.
void EventLog::emit(std::FILE* to, char* line, int length) {
    if (length < 0) return;
    std::size_t n = std::size_t(length);
    if (n >= LogWriter::line_bytes) {
        n = LogWriter::line_bytes - 1;
        line[n - 1] = '\n';
    }
    if (writer_) {
        writer_->push(to, std::string_view(line, n));
        return;
    }
    std::fwrite(line, 1, n, to);
}

}  // namespace bm
