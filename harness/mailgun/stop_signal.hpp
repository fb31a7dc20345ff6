// SIGINT/SIGTERM end a run early as its time limit would: open sessions
// are counted as unfinished and the report is still printed.
#pragma once

#include <csignal>

namespace bm::mailgun {

void install_stop_signals();
bool stop_requested();

}  // namespace bm::mailgun
