#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <poll.h>
#include <sys/resource.h>
#include <stdexcept>
#include <thread>
#include <vector>

#include "store/file_io.hpp"
#include "store/io_worker.hpp"
#include "store/mail_store.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

struct Counts {
    explicit Counts(std::size_t n) : executed(n), completed(n) {}
    std::vector<std::atomic<int>> executed;
    std::vector<int> completed;
    std::atomic<bool> executed_off_test_thread{true};
    std::thread::id test_thread = std::this_thread::get_id();
};

class CountingJob : public Job {
public:
    CountingJob(Counts& counts, std::size_t index) : counts_(counts), index_(index) {}
    void execute(CommitGroup&) override {
        if (std::this_thread::get_id() == counts_.test_thread) counts_.executed_off_test_thread = false;
        counts_.executed[index_].fetch_add(1);
    }
    void complete() override { ++counts_.completed[index_]; }

private:
    Counts& counts_;
    std::size_t index_;
};

// Holds the worker inside execute() until released, so the test decides
// what the next batch contains.
class GateJob : public Job {
public:
    explicit GateJob(std::shared_future<void> open, std::promise<void>& entered)
        : open_(std::move(open)), entered_(entered) {}
    void execute(CommitGroup&) override {
        entered_.set_value();
        open_.wait();
    }
    void complete() override {}

private:
    std::shared_future<void> open_;
    std::promise<void>& entered_;
};

class DeliverJob : public Job {
public:
    DeliverJob(MailStore& store, Delivery d, int& ok_count)
        : store_(store), delivery_(std::move(d)), ok_count_(ok_count) {}
    void execute(CommitGroup& group) override { store_.deliver(delivery_, group, &status_); }
    void complete() override { ok_count_ += status_ == Status::ok; }

private:
    MailStore& store_;
    Delivery delivery_;
    int& ok_count_;
    Status status_ = Status::temp_failure;
};

// Waits on the event fd (as an epoll loop would) until `want` completions ran.
std::size_t drain(IoWorker& worker, std::size_t want) {
    std::size_t done = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (done < want && std::chrono::steady_clock::now() < deadline) {
        pollfd p{worker.event_fd(), POLLIN, 0};
        ::poll(&p, 1, 100);
        done += worker.poll_completions();
    }
    return done;
}

double cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

TEST(IoWorker, ThousandJobsEachExecuteOnWorkerAndCompleteOnPollerExactlyOnce) {
    constexpr std::size_t n = 1000;
    Counts counts(n);
    IoWorker worker;
    for (std::size_t i = 0; i < n; ++i)
        ASSERT_TRUE(worker.submit(std::make_unique<CountingJob>(counts, i)));
    EXPECT_EQ(drain(worker, n), n);
    for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(counts.executed[i].load(), 1) << i;
        EXPECT_EQ(counts.completed[i], 1) << i;
    }
    EXPECT_TRUE(counts.executed_off_test_thread);
    EXPECT_EQ(worker.in_flight(), 0u);
    EXPECT_EQ(worker.stats().jobs_executed, n);
}

TEST(IoWorker, GroupCommit_DeliveriesOfOneBatchShareOneDirectoryFsync) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "mx.example"});
    IoWorker worker;
    std::promise<void> open, entered;
    ASSERT_TRUE(worker.submit(std::make_unique<GateJob>(open.get_future().share(), entered)));
    entered.get_future().wait();  // the gate is the whole first batch

    constexpr int n = 50;
    int delivered = 0;
    for (int i = 0; i < n; ++i) {
        Delivery d{"id" + std::to_string(i), "bob@example.org", {"alice"}, {}, "Subject: s\r\n\r\nhi\r\n"};
        ASSERT_TRUE(worker.submit(std::make_unique<DeliverJob>(store, std::move(d), delivered)));
    }
    open.set_value();
    EXPECT_EQ(drain(worker, n + 1), static_cast<std::size_t>(n + 1));
    EXPECT_EQ(delivered, n);
    auto stats = worker.stats();
    EXPECT_EQ(stats.batches, 2u);
    EXPECT_EQ(stats.files_synced, static_cast<std::uint64_t>(n));
    EXPECT_EQ(stats.dirs_synced, 1u);
    EXPECT_EQ(names_in(dir / "alice/new").size(), static_cast<std::size_t>(n));
}

TEST(IoWorker, StopFinishesJobsInFlightAndKeepsTheirCompletions) {
    constexpr std::size_t n = 300;
    Counts counts(n);
    IoWorker worker;
    for (std::size_t i = 0; i < n; ++i)
        ASSERT_TRUE(worker.submit(std::make_unique<CountingJob>(counts, i)));
    worker.stop();
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(counts.executed[i].load(), 1) << i;
    EXPECT_FALSE(worker.submit(std::make_unique<CountingJob>(counts, 0)));
    std::size_t done = 0;
    while (std::size_t k = worker.poll_completions()) done += k;
    EXPECT_EQ(done, n);
    EXPECT_EQ(worker.in_flight(), 0u);
}

TEST(IoWorker, SubmitRefusesWhenRingIsFull) {
    IoWorker worker(4);
    std::promise<void> open, entered;
    ASSERT_TRUE(worker.submit(std::make_unique<GateJob>(open.get_future().share(), entered)));
    entered.get_future().wait();
    Counts counts(8);
    std::size_t accepted = 0;
    for (std::size_t i = 0; i < 8; ++i)
        accepted += worker.submit(std::make_unique<CountingJob>(counts, i));
    EXPECT_EQ(accepted, 3u);  // four in flight, the gate included
    open.set_value();
    EXPECT_EQ(drain(worker, 4), 4u);
    EXPECT_TRUE(worker.submit(std::make_unique<CountingJob>(counts, 7)));
    EXPECT_EQ(drain(worker, 1), 1u);
}

TEST(IoWorker, EventFdReadableOnlyWhileCompletionsWait) {
    Counts counts(1);
    IoWorker worker;
    ASSERT_TRUE(worker.submit(std::make_unique<CountingJob>(counts, 0)));
    pollfd p{worker.event_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    EXPECT_EQ(worker.poll_completions(), 1u);
    p.revents = 0;
    EXPECT_EQ(::poll(&p, 1, 0), 0);
    EXPECT_EQ(worker.poll_completions(), 0u);
}

TEST(IoWorker, IdleWorkerSleepsInsteadOfSpinning) {
    IoWorker worker;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    double before = cpu_seconds();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_LT(cpu_seconds() - before, 0.05);
}

namespace {

bool readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1;
}

// Runs `hook` once: the first call only (the poller may signal too).
std::function<void()> once(std::function<void()> hook) {
    auto fired = std::make_shared<std::atomic<bool>>(false);
    return [fired, hook = std::move(hook)] {
        if (!fired->exchange(true)) hook();
    };
}

}  // namespace

// The poller takes the job between the worker's flag and its write: the
// write lands with the flag already cleared. The next poll must take it,
// or a level-triggered epoll finds the fd readable forever (a spin until
// the next completion).
TEST(IoWorker, WriteLandingAfterThePollerClearedTheFlagIsTakenByTheNextPoll) {
    Counts counts(1);
    IoWorker worker;
    std::promise<void> flag_set, may_write;
    std::shared_future<void> write_allowed = may_write.get_future().share();
    IoWorkerTestHooks hooks;
    hooks.before_completion_write = once([&] {
        flag_set.set_value();
        write_allowed.wait();
    });
    worker.set_test_hooks(hooks);
    ASSERT_TRUE(worker.submit(std::make_unique<CountingJob>(counts, 0)));
    flag_set.get_future().wait();
    EXPECT_EQ(worker.poll_completions(), 1u);  // the job is there, its write is not
    may_write.set_value();
    ASSERT_TRUE(readable(worker.event_fd(), 5000));  // the late write landed
    EXPECT_EQ(worker.poll_completions(), 0u);        // what epoll would do next
    EXPECT_FALSE(readable(worker.event_fd(), 0)) << "fd left readable with nothing to complete";
}

// A completion lands between the poller clearing the flag and its drain.
// Draining that write too would leave the flag set over an empty fd: the
// next completion would not write, and epoll would never wake for it.
TEST(IoWorker, PollerNeverTakesTheWriteOfAFlagItHasNotCleared_NoLostWakeUp) {
    Counts counts(3);
    IoWorker worker;
    std::promise<void> b_written;
    std::shared_future<void> b_done = b_written.get_future().share();
    std::atomic<bool> armed{false}, b_submitted{false};
    IoWorkerTestHooks hooks;
    hooks.after_completion_write = [&] {
        if (b_submitted.exchange(false)) b_written.set_value();
    };
    hooks.after_completion_clear = [&] {
        if (!armed.exchange(false)) return;
        b_submitted = true;
        ASSERT_TRUE(worker.submit(std::make_unique<CountingJob>(counts, 1)));
        ASSERT_EQ(b_done.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    };
    worker.set_test_hooks(hooks);
    ASSERT_TRUE(worker.submit(std::make_unique<CountingJob>(counts, 0)));
    ASSERT_TRUE(readable(worker.event_fd(), 5000));
    armed = true;  // not before: the interleaving starts from a landed write
    std::size_t done = worker.poll_completions();
    // Each further completion is reached through the fd alone, as epoll would.
    if (done < 2) {
        ASSERT_TRUE(readable(worker.event_fd(), 5000));
        done += worker.poll_completions();
    }
    EXPECT_EQ(done, 2u);
    ASSERT_TRUE(worker.submit(std::make_unique<CountingJob>(counts, 2)));
    ASSERT_TRUE(readable(worker.event_fd(), 5000)) << "lost wake-up: a completion never made the fd readable";
    while (worker.poll_completions() == 0 && readable(worker.event_fd(), 5000)) {}
    EXPECT_EQ(counts.completed[2], 1);
    EXPECT_FALSE(readable(worker.event_fd(), 0));
}

namespace {

// Stages a file in the group, then throws: nothing of it may become
// visible, and its outcome must be a failure however it was set before.
class ThrowingJob : public Job {
public:
    ThrowingJob(std::string dir, Status& outcome, bool& told)
        : dir_(std::move(dir)), outcome_(outcome), told_(told) {}
    void execute(CommitGroup& group) override {
        status_ = Status::ok;  // set early, as a careless job might
        int fd = -1;
        EXPECT_EQ(create_and_write(dir_ + "/tmp/m", "M", fd), 0);
        group.add_file(fd, dir_ + "/tmp/m", dir_ + "/new/m", &status_);
        group.add_dir_sync(dir_ + "/new", &status_);
        throw std::runtime_error("disk on fire");
    }
    void failed() override { told_ = true; }
    void complete() override { outcome_ = status_; }

private:
    std::string dir_;
    Status& outcome_;
    bool& told_;
    Status status_ = Status::temp_failure;
};

}  // namespace

TEST(IoWorker, JobThatThrowsReportsAFailureAndLeavesNothingVisible) {
    TempDir dir;
    make_maildir(dir / "box");
    Status outcome = Status::ok;
    bool told = false;
    int ok_after = 0;
    MailStore store(StoreConfig{dir.path(), "", "", "mx.example"});
    make_maildir(dir / "alice");
    IoWorker worker;
    ASSERT_TRUE(worker.submit(std::make_unique<ThrowingJob>(dir / "box", outcome, told)));
    EXPECT_EQ(drain(worker, 1), 1u);
    EXPECT_EQ(outcome, Status::temp_failure);
    EXPECT_TRUE(told);
    EXPECT_TRUE(names_in(dir / "box/new").empty());
    EXPECT_TRUE(names_in(dir / "box/tmp").empty());
    // The worker goes on: the next job of another batch succeeds.
    Delivery d{"id1", "bob@example.org", {"alice"}, {}, "Subject: s\r\n\r\nhi\r\n"};
    ASSERT_TRUE(worker.submit(std::make_unique<DeliverJob>(store, std::move(d), ok_after)));
    EXPECT_EQ(drain(worker, 1), 1u);
    EXPECT_EQ(ok_after, 1);
}

// Many natural interleavings, the poller woken by the fd alone (as a
// level-triggered epoll): every completion arrives without a timeout, and
// the fd is quiet whenever nothing is left to complete.
TEST(IoWorker, PollerDrivenByTheFdAloneNeverMissesACompletionNorSpins) {
    constexpr std::size_t rounds = 5000;
    Counts counts(rounds * 3);
    IoWorker worker;
    std::size_t submitted = 0, done = 0, spins = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (std::size_t round = 0; round < rounds && std::chrono::steady_clock::now() < deadline; ++round) {
        for (std::size_t k = 0; k < 1 + round % 3; ++k)
            ASSERT_TRUE(worker.submit(std::make_unique<CountingJob>(counts, submitted++)));
        while (done < submitted) {
            ASSERT_TRUE(readable(worker.event_fd(), 5000))
                << "lost wake-up after " << done << " of " << submitted << " completions";
            std::size_t n = worker.poll_completions();
            spins += n == 0;
            done += n;
        }
    }
    EXPECT_EQ(done, submitted);
    EXPECT_GE(submitted, 2 * rounds - 1);  // every round ran, within the time bound
    for (std::size_t i = 0; i < submitted; ++i) ASSERT_EQ(counts.completed[i], 1) << i;
    // A poll that finds nothing happens only for a write that landed after
    // its job was taken: at most once per completion signal.
    EXPECT_LE(spins, submitted);
    EXPECT_FALSE(readable(worker.event_fd(), 100));
}
