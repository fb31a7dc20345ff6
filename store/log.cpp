#include "store/log.hpp"

#include <cstdio>
#include <string>

#include "apps/log_escape.hpp"

namespace bm::store {
namespace {

// Without a server's log (unit tests, tools): stderr, the line escaped as
// the event log escapes its fields, so a file name holding a line feed
// cannot forge a line there either.
void write_to_stderr(std::string_view line) {
    std::string out = "baremail store: ";
    out += escape_log_field(line);
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stderr);
}

LogSink& sink() {
    static LogSink current = write_to_stderr;
    return current;
}

}  // namespace

void set_log_sink(LogSink new_sink) { sink() = new_sink ? std::move(new_sink) : LogSink(write_to_stderr); }

void log_line(std::string_view line) { sink()(line); }

}  // namespace bm::store
