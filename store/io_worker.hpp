// The I/O worker: every disk operation of the server runs on this thread,
// never on the polling core (SPEC Storage; ARCHITECTURE).
//
// The polling thread submits Jobs through a bounded ring; the worker takes
// whatever is queued as one batch, runs each job's execute(), then makes the
// whole batch durable in one commit round (CommitGroup: file syncs, renames,
// directory syncs shared by every job of the batch — group commit), and
// hands the jobs back through a completion ring. The polling thread calls
// poll_completions(), which runs each job's complete() on that thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "store/commit_group.hpp"

namespace bm::store {

class Job {
public:
    virtual ~Job() = default;
    // On the worker. May register durable steps in `group`; they run after
    // every job of the batch has executed, before any completes.
    virtual void execute(CommitGroup& group) = 0;
    // On the polling thread, after the batch is durable (or failed).
    virtual void complete() = 0;
    // On the worker, when execute() threw: whatever the job had set, its
    // outcome is now a (temporary) failure. A job's status should start as
    // failed anyway and turn ok only on success; this covers a job that
    // set it early.
    virtual void failed() {}
};

// Totals since start, for tests and telemetry. The sync counters show the
// group commit at work: N jobs in one batch to one directory cost one
// directory fsync, not N.
struct IoWorkerStats {
    std::uint64_t jobs_executed = 0;
    std::uint64_t batches = 0;
    std::uint64_t files_synced = 0;
    std::uint64_t dirs_synced = 0;
};

// Test only: seams at the points where the completion signal's races live,
// so a unit test can force the interleavings instead of hoping for them.
// Set before the first submit(); empty functions cost one test per batch.
struct IoWorkerTestHooks {
    std::function<void()> before_completion_write;  // worker: flag set, fd not yet written
    std::function<void()> after_completion_write;   // worker: fd written
    std::function<void()> after_completion_clear;   // poller: flag cleared, fd not yet drained
};

class IoWorker {
public:
    // `ring_size` bounds both rings (rounded up to a power of two).
    explicit IoWorker(std::size_t ring_size = 4096);
    ~IoWorker();  // stop()
    IoWorker(const IoWorker&) = delete;
    IoWorker& operator=(const IoWorker&) = delete;

    // From the polling thread. Takes ownership. False when the ring is full
    // (the caller answers the client with a temporary failure).
    bool submit(std::unique_ptr<Job> job);
    // From the polling thread: run complete() for up to `max` finished jobs
    // and destroy them. Returns how many ran. No syscall when none is ready
    // unless the event fd must be drained (kernel build).
    std::size_t poll_completions(std::size_t max = 256);
    // Readable while completions are waiting (for epoll). Drained by
    // poll_completions.
    int event_fd() const;
    // Jobs submitted and not yet completed (for clean shutdown).
    std::size_t in_flight() const;
    // Finish every submitted job, then join the thread. Completions stay
    // queued for poll_completions.
    void stop();
    // Any thread; updated after each batch is durable.
    IoWorkerStats stats() const;
    // Test only (see IoWorkerTestHooks).
    void set_test_hooks(IoWorkerTestHooks hooks);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace bm::store
