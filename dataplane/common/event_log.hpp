// One log for every service (SPEC --log): "time service peer event detail",
// and the -v debug lines "[N] ..." on stderr.
//
// Every field passes through escape_log_field before it is written: names
// from DNS, replies of remote servers and client input may hold any octet,
// and a line feed or carriage return in a field would let them forge a
// line of their own (e.g. one a fail2ban filter takes for an auth failure
// of someone else's address).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "apps/log_escape.hpp"

namespace bm {

class LogWriter;

// Security lines (failed logins, refused connections and recipients):
// what an operator or fail2ban acts on, so the DPDK build's log writer
// never drops them (LogWriter::Priority::security).
bool is_security_event(std::string_view event);

class EventLog {
public:
    EventLog() = default;
    ~EventLog();
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    // Empty path: stderr. Throws std::runtime_error when it can't be opened.
    void open(const std::string& path, bool verbose);
    // SIGHUP (logrotate moved the file): the log file is opened again by
    // its path and takes the old one's place under the same FILE, so lines
    // the DPDK build's writer already holds go to the new file. Throws
    // (still writing to the old file) when it cannot be opened. No-op on stderr.
    void reopen();
    // After --daemon detached stdio: debug lines go to the log file too.
    void detach_from_terminal();
    // From now on lines are handed to `writer` (not owned; outlives the
    // log's use) instead of being written by the calling thread.
    void write_through(LogWriter* writer) { writer_ = writer; }

    void event(std::string_view service, std::string_view peer, std::string_view event,
               std::string_view detail);
    // The same line, written by the calling thread itself, never through
    // the writer (whose ring has one producer, the poll loop) and so never
    // dropped: for the store's worker threads (StoreLogLink). stdio's lock
    // keeps each line whole among the other threads' lines.
    void event_now(std::string_view service, std::string_view peer, std::string_view event,
                   std::string_view detail);
    bool verbose() const { return verbose_; }
    void debug(std::uint64_t connection, std::string_view text);  // "[N] text"
    void debug_line(std::string_view prefix, std::uint64_t connection, std::string_view line);

private:
    std::size_t format_event(char* text, std::size_t room, std::string_view service, std::string_view peer,
                             std::string_view event, std::string_view detail);
    std::string abort_on_event_;  // BAREMAIL_TEST_ABORT_ON_EVENT (harness self-test only)
    void emit(std::FILE* to, char* line, std::size_t length, bool security);

    LogWriter* writer_ = nullptr;
    std::FILE* file_ = stderr;
    std::FILE* debug_ = stderr;
    bool owned_ = false;
    bool verbose_ = false;
    std::string path_;
};

}  // namespace bm
