// Charges the polling core's cycles to busy or idle loop iterations
// (PollCounters). The TSC is read once, at the start of each iteration (the
// loop's clock uses the same reading); the cycles since the previous start
// belong to the iteration that ran in between, so a sleep after an idle
// iteration is idle time and a burst's processing is busy time.
#pragma once

#include <cstdint>

#include "dataplane/dpdk/counters.hpp"

namespace bm::dpdk {

class CycleMeter {
public:
    CycleMeter(PollCounters& counters, std::uint64_t tsc_hz) : counters_(counters) {
        counters_.tsc_hz.set(tsc_hz);
    }

    // At the start of an iteration, with the TSC read there; `previous_worked`
    // tells whether the iteration that just ended did any work.
    void lap(std::uint64_t tsc, bool previous_worked) {
        if (started_) {
            std::uint64_t spent = tsc - last_;
            counters_.total_cycles.add(spent);
            if (previous_worked) {
                counters_.busy_cycles.add(spent);
                counters_.iterations_busy.add();
            } else {
                counters_.iterations_idle.add();
            }
        }
        started_ = true;
        last_ = tsc;
    }

private:
    PollCounters& counters_;
    std::uint64_t last_ = 0;
    bool started_ = false;
};

}  // namespace bm::dpdk
