// One log for every service (SPEC --log): "time service peer event detail",
// and the -v debug lines "[N] ..." on stderr.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace bm {

class LogWriter;

class EventLog {
public:
    EventLog() = default;
    ~EventLog();
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    // Empty path: stderr. Throws std::runtime_error when it can't be opened.
    void open(const std::string& path, bool verbose);
    // After --daemon detached stdio: debug lines go to the log file too.
    void detach_from_terminal();
    // From now on lines are handed to `writer` (not owned; outlives the
    // log's use) instead of being written by the calling thread.
    void write_through(LogWriter* writer) { writer_ = writer; }

    void event(std::string_view service, std::string_view peer, std::string_view event,
               std::string_view detail);
    bool verbose() const { return verbose_; }
    void debug(std::uint64_t connection, std::string_view text);  // "[N] text"
    void debug_line(std::string_view prefix, std::uint64_t connection, std::string_view line);

private:
    std::string abort_on_event_;  // BAREMAIL_TEST_ABORT_ON_EVENT (harness self-test only)
    void emit(std::FILE* to, char* line, int length);

    LogWriter* writer_ = nullptr;
    std::FILE* file_ = stderr;
    std::FILE* debug_ = stderr;
    bool owned_ = false;
    bool verbose_ = false;
};

}  // namespace bm
