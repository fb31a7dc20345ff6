#include "harness/mailgun/stop_signal.hpp"

namespace bm::mailgun {

namespace {
volatile std::sig_atomic_t stop_flag = 0;
void on_stop(int) { stop_flag = 1; }
}  // namespace

void install_stop_signals() {
    std::signal(SIGINT, on_stop);
    std::signal(SIGTERM, on_stop);
}

bool stop_requested() { return stop_flag != 0; }

}  // namespace bm::mailgun
