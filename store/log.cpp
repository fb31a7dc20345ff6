#include "store/log.hpp"

#include <cstdio>
#include <string>

namespace bm::store {
namespace {

LogSink& sink() {
    static LogSink current = [](std::string_view line) {
        std::string out = "baremail store: ";
        out.append(line);
        out.push_back('\n');
        std::fwrite(out.data(), 1, out.size(), stderr);
    };
    return current;
}

}  // namespace

void set_log_sink(LogSink new_sink) { sink() = std::move(new_sink); }

void log_line(std::string_view line) {
    if (sink()) sink()(line);
}

}  // namespace bm::store
