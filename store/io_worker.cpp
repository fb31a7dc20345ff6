#include "store/io_worker.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "store/event_fd.hpp"
#include "store/log.hpp"
#include "store/ring.hpp"

namespace bm::store {
namespace {

// The most jobs made durable by one commit round. Bounds the latency of
// the first job of a huge batch; 512 fsync'd files is already far more
// than one disk flush can amortise.
constexpr std::size_t max_batch = 512;

}  // namespace

struct IoWorker::Impl {
    explicit Impl(std::size_t ring_size)
        : submitted(ring_size), completed(ring_size),
          wake_fd(make_eventfd(0, "I/O worker")), completion_fd(make_eventfd(EFD_NONBLOCK | EFD_SEMAPHORE, "I/O worker")) {}
    ~Impl() {
        ::close(wake_fd);
        ::close(completion_fd);
    }

    void run();
    void take_batch(std::vector<Job*>& batch);
    void execute_batch(const std::vector<Job*>& batch);
    void execute_one(Job& job);
    void hand_back(const std::vector<Job*>& batch);
    void wait_for_work();
    void publish_stats();
    void signal_completion();
    void take_completion_writes();

    SpscRing<Job*> submitted;  // polling thread -> worker
    SpscRing<Job*> completed;  // worker -> polling thread
    int wake_fd;               // blocks the idle worker
    int completion_fd;         // readable while completions wait
    // Set by whoever signalled an eventfd and cleared by its reader, so a
    // busy side writes the fd once per idle period, not once per job.
    std::atomic<bool> wake_pending{false};
    // The completion side's flag is set before its write lands, so a poller
    // that clears it may find the fd still empty. The poller then owes
    // that write: it takes it (one per read, the fd being a semaphore) on
    // a later poll, once it is there. It never takes more writes than flags
    // it cleared, so it cannot eat the write of a flag still set (which
    // would leave the flag true over an empty fd: a lost wake-up), and a
    // late write never stays unread (a level-triggered epoll would spin).
    std::atomic<bool> completion_signalled{false};
    std::uint64_t completion_writes_owed = 0;  // polling thread only
    IoWorkerTestHooks hooks;
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> in_flight{0};
    std::thread thread;
    CommitGroup group;  // worker-owned
    std::atomic<std::uint64_t> jobs_executed{0}, batches{0}, files_synced{0}, dirs_synced{0};
};

void IoWorker::Impl::run() {
    std::vector<Job*> batch;
    batch.reserve(max_batch);
    for (;;) {
        take_batch(batch);
        if (!batch.empty()) {
            execute_batch(batch);
            hand_back(batch);
            continue;
        }
        // Stop only once nothing is queued: stop() finishes every job.
        if (stopping.load(std::memory_order_acquire) && submitted.empty()) return;
        wait_for_work();
    }
}

void IoWorker::Impl::take_batch(std::vector<Job*>& batch) {
    batch.clear();
    Job* job = nullptr;
    while (batch.size() < max_batch && submitted.pop(job)) batch.push_back(job);
}

// A job that throws reports a failure, never a success: what it had
// registered is failed (nothing of it becomes visible) and the job learns
// of it through failed(), so its reply says so (a 451, not a 250).
void IoWorker::Impl::execute_one(Job& job) {
    CommitGroup::Mark mark = group.mark();
    std::string why;
    try {
        job.execute(group);
        return;
    } catch (const std::exception& e) {
        why = e.what();
    } catch (...) {
        why = "unknown exception";
    }
    group.fail_since(mark);
    log_line("I/O job failed, answered as a temporary failure: " + why);
    job.failed();
}

// Group commit: every job writes, then one flush makes them all durable.
void IoWorker::Impl::execute_batch(const std::vector<Job*>& batch) {
    for (Job* job : batch) execute_one(*job);
    group.flush();
    jobs_executed.fetch_add(batch.size(), std::memory_order_relaxed);
    batches.fetch_add(1, std::memory_order_relaxed);
    publish_stats();
}

void IoWorker::Impl::publish_stats() {
    files_synced.store(group.files_synced(), std::memory_order_relaxed);
    dirs_synced.store(group.dirs_synced(), std::memory_order_relaxed);
}

void IoWorker::Impl::hand_back(const std::vector<Job*>& batch) {
    for (Job* job : batch) {
        // submit() keeps in_flight <= capacity, so this cannot stay full;
        // the loop only guards against a broken invariant.
        while (!completed.push(job)) std::this_thread::yield();
    }
    if (!completion_signalled.exchange(true, std::memory_order_acq_rel)) signal_completion();
}

// Called by whoever turned the flag from false to true: one write per flag.
void IoWorker::Impl::signal_completion() {
    if (hooks.before_completion_write) hooks.before_completion_write();
    signal_eventfd(completion_fd);
    if (hooks.after_completion_write) hooks.after_completion_write();
}

// Polling thread. Clearing the flag before the ring is read means a job
// handed back after that read finds the flag false and writes again.
void IoWorker::Impl::take_completion_writes() {
    if (completion_signalled.exchange(false, std::memory_order_acq_rel)) {
        ++completion_writes_owed;
        if (hooks.after_completion_clear) hooks.after_completion_clear();
    }
    while (completion_writes_owed > 0 && take_one_write(completion_fd)) --completion_writes_owed;
}

// The exchange pairs with the one in submit(): either the producer sees
// false and writes the fd (waking the read below), or we see its true and
// with it the job it pushed. No wake-up is lost, no core spins.
void IoWorker::Impl::wait_for_work() {
    wake_pending.exchange(false, std::memory_order_acq_rel);
    if (!submitted.empty() || stopping.load(std::memory_order_acquire)) return;
    drain_eventfd(wake_fd);
}

IoWorker::IoWorker(std::size_t ring_size) : impl_(std::make_unique<Impl>(ring_size)) {
    impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

IoWorker::~IoWorker() {
    stop();
    Job* job = nullptr;
    while (impl_->completed.pop(job)) delete job;
}

bool IoWorker::submit(std::unique_ptr<Job> job) {
    auto& w = *impl_;
    if (w.stopping.load(std::memory_order_acquire)) return false;
    // Every job in flight has a slot waiting in the completion ring.
    if (w.in_flight.load(std::memory_order_relaxed) >= w.completed.capacity()) return false;
    if (!w.submitted.push(job.get())) return false;
    job.release();
    w.in_flight.fetch_add(1, std::memory_order_relaxed);
    if (!w.wake_pending.exchange(true, std::memory_order_acq_rel)) signal_eventfd(w.wake_fd);
    return true;
}

std::size_t IoWorker::poll_completions(std::size_t max) {
    auto& w = *impl_;
    w.take_completion_writes();
    std::size_t done = 0;
    Job* raw = nullptr;
    while (done < max && w.completed.pop(raw)) {
        std::unique_ptr<Job> job(raw);
        w.in_flight.fetch_sub(1, std::memory_order_relaxed);
        ++done;
        job->complete();
    }
    // Left some behind: keep the fd readable so epoll comes back for them.
    if (!w.completed.empty() && !w.completion_signalled.exchange(true, std::memory_order_acq_rel))
        w.signal_completion();
    return done;
}

int IoWorker::event_fd() const { return impl_->completion_fd; }

std::size_t IoWorker::in_flight() const {
    return impl_->in_flight.load(std::memory_order_relaxed);
}

void IoWorker::stop() {
    auto& w = *impl_;
    if (!w.thread.joinable()) return;
    w.stopping.store(true, std::memory_order_release);
    signal_eventfd(w.wake_fd);
    w.thread.join();
}

void IoWorker::set_test_hooks(IoWorkerTestHooks hooks) { impl_->hooks = std::move(hooks); }

IoWorkerStats IoWorker::stats() const {
    const auto& w = *impl_;
    return IoWorkerStats{w.jobs_executed.load(std::memory_order_relaxed),
                         w.batches.load(std::memory_order_relaxed),
                         w.files_synced.load(std::memory_order_relaxed),
                         w.dirs_synced.load(std::memory_order_relaxed)};
}

}  // namespace bm::store
