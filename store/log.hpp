// Where the store reports reasons behind a failed Status (a full disk, a
// stale lock, a users file line it skipped). The server points this at its
// log once at start-up, before the I/O worker starts; the default writes to
// stderr. The store depends on nothing else of the project, so it cannot
// use the apps' logger directly.
#pragma once

#include <functional>
#include <string_view>

namespace bm::store {

using LogSink = std::function<void(std::string_view line)>;

void set_log_sink(LogSink sink);
void log_line(std::string_view line);

}  // namespace bm::store
