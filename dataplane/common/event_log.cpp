#include "dataplane/common/event_log.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <sys/time.h>

namespace bm {

EventLog::~EventLog() {
    if (owned_) std::fclose(file_);
}

void EventLog::open(const std::string& path, bool verbose) {
    verbose_ = verbose;
    if (path.empty()) return;
    std::FILE* f = std::fopen(path.c_str(), "a");
    if (!f) throw std::runtime_error("cannot open log file " + path + ": " + std::strerror(errno));
    std::setvbuf(f, nullptr, _IOLBF, 0);  // a line survives kill -9
    file_ = f;
    owned_ = true;
}

void EventLog::detach_from_terminal() { debug_ = file_; }

void EventLog::event(std::string_view service, std::string_view peer, std::string_view event,
                     std::string_view detail) {
    timeval tv{};
    gettimeofday(&tv, nullptr);
    tm utc{};
    gmtime_r(&tv.tv_sec, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    std::fprintf(file_, "%s.%03ldZ %.*s %.*s %.*s %.*s\n", stamp, long(tv.tv_usec / 1000),
                 int(service.size()), service.data(), int(peer.size()), peer.data(),
                 int(event.size()), event.data(), int(detail.size()), detail.data());
}

void EventLog::debug(std::uint64_t connection, std::string_view text) {
    if (!verbose_) return;
    std::fprintf(debug_, "[%llu] %.*s\n", static_cast<unsigned long long>(connection),
                 int(text.size()), text.data());
}

void EventLog::debug_line(std::string_view prefix, std::uint64_t connection, std::string_view line) {
    if (!verbose_) return;
    std::fprintf(debug_, "[%llu] %.*s%.*s\n", static_cast<unsigned long long>(connection),
                 int(prefix.size()), prefix.data(), int(line.size()), line.data());
}

}  // namespace bm
