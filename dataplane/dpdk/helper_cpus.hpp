// Where the server's helper threads run: the I/O worker (fsync, file I/O)
// and the log writer. Never on the polling lcore's CPU: a busy loop would
// take the CPU from them (their work would wait for the scheduler's time
// slice), and they would take it from the loop. They get the CPUs the
// process was allowed at start minus the polling lcore's (with the EAL's
// default lcore list that is the other lcores' CPUs, which run nothing;
// with `-l 1` on a two-CPU machine, CPU 0).
//
// When nothing is left — one CPU, or an affinity mask of the polling CPU
// alone — they share it: with --poll adaptive the loop sleeps when idle
// and they run then; with --poll busy they run only when the scheduler
// preempts the loop, so every fsync waits for a time slice.
#pragma once

#include <sched.h>

#include <string>

namespace bm::dpdk {

struct HelperCpus {
    cpu_set_t cpus;
    bool shared = false;  // only the polling CPU was left
};

// `allowed`: the process's CPUs before the EAL pinned the main thread;
// `polling`: the polling lcore's CPUs.
HelperCpus helper_cpus(const cpu_set_t& allowed, const cpu_set_t& polling);

// "0-2,5" for the log.
std::string cpu_list(const cpu_set_t& cpus);

// While alive, the calling thread runs on `cpus`, so the threads it starts
// inherit them; then it gets its own CPUs back. Does nothing if the
// affinity cannot be read or set.
class ScopedAffinity {
public:
    explicit ScopedAffinity(const cpu_set_t& cpus);
    ~ScopedAffinity();
    ScopedAffinity(const ScopedAffinity&) = delete;
    ScopedAffinity& operator=(const ScopedAffinity&) = delete;

private:
    cpu_set_t saved_;
    bool changed_ = false;
};

}  // namespace bm::dpdk
