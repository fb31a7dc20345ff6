// The relay schedule driven with explicit times: per-domain deliveries,
// doubling retries, giving up after --max-attempts, finishing messages.
#include "apps/relay/scheduler.hpp"

#include <gtest/gtest.h>

using namespace bm;
using bm::apps::RecipientResult;
using bm::apps::RelayOutcome;

namespace {

QueuedMessage message(const std::string& name, std::vector<std::string> rcpts, std::int64_t next_try = 100) {
    QueuedMessage m;
    m.name = name;
    m.id = "id-" + name;
    m.sender = "alice@local.example";
    m.created = 90;
    m.next_try = next_try;
    for (auto& r : rcpts) m.recipients.push_back({r, RcptState::pending, {}});
    return m;
}

std::vector<RecipientResult> all(const DueDelivery& d, RelayOutcome outcome, const std::string& reply) {
    std::vector<RecipientResult> out;
    for (const auto& r : d.recipients) out.push_back({r, outcome, reply});
    return out;
}

RelayScheduler scheduler(std::int64_t delay = 10, std::uint32_t attempts = 3) {
    return RelayScheduler(RelayScheduler::Settings{delay, attempts});
}

}  // namespace

TEST(RelayScheduler, NothingIsDueBeforeItsTime) {
    auto s = scheduler();
    s.add(message("m1", {"a@x.example"}, 100));
    EXPECT_TRUE(s.take_due(99, 10).empty());
    EXPECT_EQ(s.next_due(), 100);
    EXPECT_EQ(s.take_due(100, 10).size(), 1u);
    EXPECT_FALSE(s.next_due());  // in flight: not due again
}

TEST(RelayScheduler, EachRecipientDomainIsItsOwnDelivery) {
    auto s = scheduler();
    s.add(message("m1", {"a@x.example", "b@y.example", "c@X.example"}));
    auto due = s.take_due(100, 10);
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(due[0].domain, "x.example");
    EXPECT_EQ(due[0].recipients, (std::vector<std::string>{"a@x.example", "c@X.example"}));
    EXPECT_EQ(due[1].domain, "y.example");
    EXPECT_EQ(due[0].attempt, 1u);
}

TEST(RelayScheduler, OneDeadDomainDelaysNobodyElse) {
    auto s = scheduler();
    s.add(message("m1", {"a@dead.example", "b@fine.example"}));
    auto due = s.take_due(100, 10);
    ASSERT_EQ(due.size(), 2u);
    // fine.example finishes while dead.example is still in flight.
    auto update = s.finish(due[1].delivery, all(due[1], RelayOutcome::delivered, "250 ok"), 101);
    ASSERT_TRUE(update);
    EXPECT_EQ(update->action, QueueUpdate::Action::rewrite);
    EXPECT_EQ(update->message.recipients[1].state, RcptState::sent);
    EXPECT_EQ(update->message.recipients[0].state, RcptState::pending);
    // Another message to fine.example is not held back either.
    s.add(message("m2", {"c@fine.example"}, 101));
    EXPECT_EQ(s.take_due(101, 10).size(), 1u);
}

TEST(RelayScheduler, RetryDelayDoublesAfterEachFailure) {
    auto s = scheduler(10, 5);
    s.add(message("m1", {"a@x.example"}));
    std::int64_t now = 100;
    std::vector<std::int64_t> waits;
    for (int i = 0; i < 4; ++i) {
        auto due = s.take_due(now, 10);
        ASSERT_EQ(due.size(), 1u) << i;
        EXPECT_EQ(due[0].attempt, std::uint32_t(i + 1));
        auto update = s.finish(due[0].delivery, all(due[0], RelayOutcome::temporary, "451 later"), now);
        ASSERT_TRUE(update);
        EXPECT_EQ(update->message.attempts, std::uint32_t(i + 1));
        waits.push_back(update->message.next_try - now);
        now = update->message.next_try;
        EXPECT_TRUE(s.take_due(now - 1, 10).empty());
    }
    EXPECT_EQ(waits, (std::vector<std::int64_t>{10, 20, 40, 80}));
}

TEST(RelayScheduler, AfterMaxAttemptsPendingRecipientsFail) {
    auto s = scheduler(10, 2);
    s.add(message("m1", {"a@x.example", "b@x.example"}));
    auto due = s.take_due(100, 10);
    // a is refused for good at once, b is deferred.
    auto update = s.finish(due[0].delivery,
                           {{"a@x.example", RelayOutcome::permanent, "550 no"},
                            {"b@x.example", RelayOutcome::temporary, "451 later"}},
                           100);
    ASSERT_TRUE(update);
    EXPECT_EQ(update->action, QueueUpdate::Action::rewrite);
    EXPECT_EQ(update->message.recipients[0].state, RcptState::failed);
    due = s.take_due(110, 10);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].recipients, std::vector<std::string>{"b@x.example"});
    update = s.finish(due[0].delivery, all(due[0], RelayOutcome::temporary, "451 still"), 110);
    ASSERT_TRUE(update);
    EXPECT_EQ(update->action, QueueUpdate::Action::finish);
    EXPECT_EQ(update->message.recipients[1].state, RcptState::failed);
    EXPECT_EQ(update->message.recipients[1].diagnostic, "451 still");
    EXPECT_TRUE(update->message.any_failed());
    EXPECT_FALSE(s.next_due());
}

TEST(RelayScheduler, AllDeliveredFinishesTheMessage) {
    auto s = scheduler();
    s.add(message("m1", {"a@x.example"}));
    auto due = s.take_due(100, 10);
    auto update = s.finish(due[0].delivery, all(due[0], RelayOutcome::delivered, "250 ok"), 100);
    ASSERT_TRUE(update);
    EXPECT_EQ(update->action, QueueUpdate::Action::finish);
    EXPECT_FALSE(update->message.any_failed());
    s.forget("m1");
    EXPECT_FALSE(s.contains("m1"));
}

TEST(RelayScheduler, ShutdownDoesNotCountTheAttempt) {
    auto s = scheduler(10, 1);
    s.add(message("m1", {"a@x.example"}));
    auto due = s.take_due(100, 10);
    auto update = s.finish(due[0].delivery, all(due[0], RelayOutcome::temporary, "cut"), 100, false);
    ASSERT_TRUE(update);
    EXPECT_EQ(update->action, QueueUpdate::Action::rewrite);
    EXPECT_EQ(update->message.attempts, 0u);
    EXPECT_EQ(update->message.recipients[0].state, RcptState::pending);
    due = s.take_due(100, 10);
    ASSERT_EQ(due.size(), 1u);
    s.abandon(due[0].delivery);
    EXPECT_EQ(s.take_due(100, 10).size(), 1u);
}

TEST(RelayScheduler, ResumesFromTheQueueFileCounters) {
    auto s = scheduler(10, 3);
    QueuedMessage m = message("m1", {"a@x.example", "b@y.example"}, 500);
    m.attempts = 2;
    m.recipients[1].state = RcptState::sent;
    s.add(m);
    EXPECT_TRUE(s.take_due(499, 10).empty());
    auto due = s.take_due(500, 10);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].domain, "x.example");
    EXPECT_EQ(due[0].attempt, 3u);
    auto update = s.finish(due[0].delivery, all(due[0], RelayOutcome::temporary, "451"), 500);
    EXPECT_EQ(update->action, QueueUpdate::Action::finish);
}

TEST(RelayScheduler, FileCountersAreTheLeastTriedPendingDomain) {
    auto s = scheduler(10, 5);
    s.add(message("m1", {"a@x.example", "b@y.example"}));
    auto due = s.take_due(100, 10);
    auto u1 = s.finish(due[0].delivery, all(due[0], RelayOutcome::temporary, "451"), 100);
    EXPECT_EQ(u1->message.attempts, 0u);  // y.example not tried yet
    auto u2 = s.finish(due[1].delivery, all(due[1], RelayOutcome::temporary, "451"), 105);
    EXPECT_EQ(u2->message.attempts, 1u);
    EXPECT_EQ(u2->message.next_try, 110);
}

TEST(RelayScheduler, AMessageWithNothingPendingIsFinishedOnAdd) {
    auto s = scheduler();
    QueuedMessage m = message("m1", {"a@x.example"});
    m.recipients[0].state = RcptState::failed;
    EXPECT_TRUE(s.add(m));
    EXPECT_FALSE(s.add(m));
    auto finished = s.take_finished();
    ASSERT_EQ(finished.size(), 1u);
    EXPECT_EQ(finished[0].action, QueueUpdate::Action::finish);
    EXPECT_TRUE(s.take_due(1000, 10).empty());
}

TEST(RelayScheduler, LimitBoundsConcurrentDeliveries) {
    auto s = scheduler();
    for (int i = 0; i < 5; ++i) s.add(message("m" + std::to_string(i), {"a@x.example"}));
    EXPECT_EQ(s.take_due(100, 3).size(), 3u);
    EXPECT_EQ(s.in_flight(), 3u);
    EXPECT_EQ(s.take_due(100, 10).size(), 2u);
}

TEST(RelayScheduler, UnknownDeliveryIsIgnored) {
    auto s = scheduler();
    EXPECT_FALSE(s.finish(42, {}, 100));
}

// ---- lifetime, retry cap, delay warning (fake clock: times are arguments) ----

namespace {

RelayScheduler lifetime_scheduler(std::int64_t delay, std::uint32_t attempts, std::int64_t max_delay,
                                  std::int64_t lifetime, std::int64_t warning) {
    return RelayScheduler(RelayScheduler::Settings{delay, attempts, max_delay, lifetime, warning});
}

// One failed attempt of m1's only domain at `now`; the update it gives.
std::optional<QueueUpdate> fail_once(RelayScheduler& s, std::int64_t now) {
    auto due = s.take_due(now, 10);
    EXPECT_EQ(due.size(), 1u);
    if (due.empty()) return std::nullopt;
    return s.finish(due[0].delivery, all(due[0], RelayOutcome::temporary, "451 later"), now);
}

}  // namespace

TEST(RelayScheduler, DoublingStopsAtTheMaxRetryDelay) {
    auto s = lifetime_scheduler(300, 100, 4000, 1'000'000, 0);
    EXPECT_EQ(s.retry_delay_after(1), 300);
    EXPECT_EQ(s.retry_delay_after(4), 2400);
    EXPECT_EQ(s.retry_delay_after(5), 4000);  // 4800 capped
    EXPECT_EQ(s.retry_delay_after(30), 4000);
}

TEST(RelayScheduler, AMaxRetryDelayBelowTheFirstDelayKeepsTheFirst) {
    auto s = lifetime_scheduler(300, 100, 100, 1'000'000, 0);
    EXPECT_EQ(s.retry_delay_after(1), 300);
    EXPECT_EQ(s.retry_delay_after(3), 300);
}

TEST(RelayScheduler, LifetimeSpentBouncesBeforeMaxAttempts) {
    // created 90, lifetime 100: the attempt at or after 190 is the last.
    auto s = lifetime_scheduler(30, 100, 1000, 100, 0);
    s.add(message("m1", {"a@x.example"}));
    auto u = fail_once(s, 100);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->message.next_try, 130);
    u = fail_once(s, 130);  // next: 130 + 60 = 190
    EXPECT_EQ(u->message.next_try, 190);
    u = fail_once(s, 190);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->action, QueueUpdate::Action::finish);
    EXPECT_EQ(u->message.recipients[0].state, RcptState::failed);
    EXPECT_EQ(u->message.recipients[0].diagnostic, "451 later");
}

TEST(RelayScheduler, TheLastRetryFallsOnTheEndOfTheLifetime) {
    auto s = lifetime_scheduler(30, 100, 1000, 50, 0);  // ends at 140
    s.add(message("m1", {"a@x.example"}));
    auto u = fail_once(s, 100);  // 100 + 30 = 130 < 140
    EXPECT_EQ(u->message.next_try, 130);
    u = fail_once(s, 130);  // 130 + 60 = 190, clamped to 140
    EXPECT_EQ(u->message.next_try, 140);
    EXPECT_TRUE(s.take_due(139, 10).empty());
    u = fail_once(s, 140);
    EXPECT_EQ(u->action, QueueUpdate::Action::finish);
}

TEST(RelayScheduler, MaxAttemptsSpentBouncesBeforeTheLifetime) {
    auto s = lifetime_scheduler(10, 2, 1000, 1'000'000, 0);
    s.add(message("m1", {"a@x.example"}));
    fail_once(s, 100);
    auto u = fail_once(s, 110);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->action, QueueUpdate::Action::finish);
    EXPECT_TRUE(u->message.any_failed());
}

TEST(RelayScheduler, DelayWarningOnceAtTheFirstDeferralPastItsTime) {
    auto s = lifetime_scheduler(10, 100, 1000, 1000, 25);  // created 90: warn from 115
    s.add(message("m1", {"a@x.example"}));
    auto u = fail_once(s, 100);
    EXPECT_FALSE(u->warn);
    EXPECT_FALSE(u->message.warned);
    u = fail_once(s, 110);
    EXPECT_FALSE(u->warn);
    u = fail_once(s, 130);  // 40 s old: past 25
    EXPECT_TRUE(u->warn);
    EXPECT_TRUE(u->message.warned);
    EXPECT_EQ(u->action, QueueUpdate::Action::rewrite);
    u = fail_once(s, 170);
    EXPECT_FALSE(u->warn);  // once per message
    EXPECT_TRUE(u->message.warned);
}

TEST(RelayScheduler, NoDelayWarningWhenAlreadyWarnedOrDisabledOrBouncing) {
    auto warned = lifetime_scheduler(10, 100, 1000, 1000, 5);
    QueuedMessage m = message("m1", {"a@x.example"});
    m.warned = true;  // from the queue file: a restart does not warn again
    warned.add(m);
    EXPECT_FALSE(fail_once(warned, 200)->warn);

    auto off = lifetime_scheduler(10, 100, 1000, 1000, 0);
    off.add(message("m1", {"a@x.example"}));
    EXPECT_FALSE(fail_once(off, 500)->warn);

    auto bouncing = lifetime_scheduler(10, 1, 1000, 1000, 5);  // the first failure is the last
    bouncing.add(message("m1", {"a@x.example"}));
    auto u = fail_once(bouncing, 200);
    EXPECT_FALSE(u->warn);
    EXPECT_EQ(u->action, QueueUpdate::Action::finish);
}

// ---- hold, release, flush ---------------------------------------------------------

TEST(RelayScheduler, AHeldMessageIsNeverDueUntilReleased) {
    auto s = scheduler();
    s.add(message("m1", {"a@x.example"}, 100));
    auto held = s.hold("m1");
    ASSERT_TRUE(held);
    EXPECT_TRUE(held->message.held);
    EXPECT_EQ(held->action, QueueUpdate::Action::rewrite);
    EXPECT_TRUE(s.take_due(1'000'000, 10).empty());
    EXPECT_FALSE(s.next_due());
    EXPECT_EQ(s.flush("", 1000), 0u);  // flush leaves held mail alone (as postqueue -f)
    EXPECT_TRUE(s.take_due(1'000'000, 10).empty());
    auto released = s.release("m1");
    ASSERT_TRUE(released);
    EXPECT_FALSE(released->message.held);
    EXPECT_EQ(s.take_due(100, 10).size(), 1u);
}

TEST(RelayScheduler, AHeldMessageFromTheQueueFileIsNotScheduled) {
    auto s = scheduler();
    QueuedMessage m = message("m1", {"a@x.example"}, 100);
    m.held = true;
    s.add(m);
    EXPECT_TRUE(s.take_due(1'000'000, 10).empty());
    s.release("m1");
    EXPECT_EQ(s.take_due(100, 10).size(), 1u);
}

TEST(RelayScheduler, HoldDuringADeliveryLetsItEndButStartsNothingAfter) {
    auto s = scheduler();
    s.add(message("m1", {"a@x.example"}, 100));
    auto due = s.take_due(100, 10);
    ASSERT_EQ(due.size(), 1u);
    s.hold("m1");
    auto u = s.finish(due[0].delivery, all(due[0], RelayOutcome::temporary, "451 x"), 100);
    ASSERT_TRUE(u);
    EXPECT_TRUE(u->message.held);  // the rewrite keeps the hold
    EXPECT_TRUE(s.take_due(1'000'000, 10).empty());
}

TEST(RelayScheduler, FlushMakesWaitingDeliveriesDueNow) {
    auto s = scheduler(1000);
    s.add(message("m1", {"a@x.example"}, 100));
    s.add(message("m2", {"b@y.example"}, 5000));
    auto due = s.take_due(100, 10);
    ASSERT_EQ(due.size(), 1u);
    s.finish(due[0].delivery, all(due[0], RelayOutcome::temporary, "451 x"), 100);  // m1 next at 1100
    EXPECT_TRUE(s.take_due(200, 10).empty());
    EXPECT_EQ(s.flush("m1", 200), 1u);  // only m1
    due = s.take_due(200, 10);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].message, "m1");
    EXPECT_EQ(due[0].attempt, 2u);
    EXPECT_EQ(s.flush("", 200), 1u);  // m2; m1 is in flight
    EXPECT_EQ(s.take_due(200, 10).size(), 1u);
}

TEST(RelayScheduler, FindsMessagesByFileNameOrQueueId) {
    auto s = scheduler();
    s.add(message("m1", {"a@x.example"}));
    EXPECT_EQ(s.find("m1"), "m1");
    EXPECT_EQ(s.find("id-m1"), "m1");
    EXPECT_FALSE(s.find("nope"));
    EXPECT_FALSE(s.hold("nope"));
    EXPECT_FALSE(s.release("nope"));
}

TEST(RelayScheduler, AWarningThatCouldNotBeWrittenIsTriedAtTheNextDeferral) {
    auto s = lifetime_scheduler(10, 100, 1000, 1000, 5);
    s.add(message("m1", {"a@x.example"}));
    EXPECT_TRUE(fail_once(s, 100)->warn);
    s.warning_failed("m1");
    auto u = fail_once(s, 110);
    EXPECT_TRUE(u->warn);
    EXPECT_FALSE(fail_once(s, 130)->warn);
}
