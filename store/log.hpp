// Where the store reports reasons behind a failed Status (a full disk, a
// stale lock, a users file line it skipped). The server points this at its
// log once at start-up, before the I/O worker starts (and back to the
// default, an empty sink, before that log goes away); the default writes
// to stderr, escaped (apps/log_escape.hpp). The store depends on nothing
// of the servers' code, so it cannot use their log directly. Lines come
// from whichever thread runs the store: the I/O and auth workers, the main
// thread at start-up.
#pragma once

#include <functional>
#include <string_view>

namespace bm::store {

using LogSink = std::function<void(std::string_view line)>;

void set_log_sink(LogSink sink);
void log_line(std::string_view line);

}  // namespace bm::store
