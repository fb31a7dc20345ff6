#include "apps/login_penalty.hpp"

#include <gtest/gtest.h>

namespace bm::apps {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

struct FakeClock {
    steady_clock::time_point now{seconds(1000)};
    LoginPenalty::Clock clock() {
        return [this] { return now; };
    }
};

// A guesser waits for each answer before the next try (one at a time).
milliseconds fail_sequentially(LoginPenalty& penalty, FakeClock& time, const char* ip) {
    milliseconds held = penalty.hold_for(ip);
    time.now += held;
    penalty.failed(ip);
    return held;
}

TEST(LoginPenalty, TheFreeFailuresCostNothingThenTheWaitDoublesFromTwoToFifteenSeconds) {
    FakeClock time;
    LoginPenalty penalty({}, time.clock());
    std::vector<milliseconds> held;
    for (int i = 0; i < 8; ++i) held.push_back(fail_sequentially(penalty, time, "10.99.0.5"));
    EXPECT_EQ(held, (std::vector<milliseconds>{milliseconds(0), milliseconds(0), milliseconds(0),
                                               milliseconds(2000), milliseconds(4000), milliseconds(8000),
                                               milliseconds(15000), milliseconds(15000)}));
    EXPECT_EQ(penalty.failures("10.99.0.5"), 8u);
}

TEST(LoginPenalty, FailuresAreCountedPerAddressNotPerConnection) {
    FakeClock time;
    LoginPenalty penalty({}, time.clock());
    for (int i = 0; i < 3; ++i) fail_sequentially(penalty, time, "10.99.0.5");
    EXPECT_EQ(penalty.hold_for("10.99.0.5"), milliseconds(2000));
    EXPECT_EQ(penalty.hold_for("10.99.0.6"), milliseconds(0));  // another address
}

TEST(LoginPenalty, ASuccessForgetsTheAddress) {
    FakeClock time;
    LoginPenalty penalty({}, time.clock());
    for (int i = 0; i < 5; ++i) fail_sequentially(penalty, time, "10.99.0.5");
    EXPECT_GT(penalty.hold_for("10.99.0.5"), milliseconds(0));  // the right password waits too
    time.now += seconds(20);
    penalty.succeeded("10.99.0.5");
    EXPECT_EQ(penalty.failures("10.99.0.5"), 0u);
    EXPECT_EQ(penalty.hold_for("10.99.0.5"), milliseconds(0));
}

TEST(LoginPenalty, EntriesExpireAfterAnHourWithoutFailure) {
    FakeClock time;
    LoginPenalty penalty({}, time.clock());
    for (int i = 0; i < 6; ++i) fail_sequentially(penalty, time, "10.99.0.5");
    time.now += seconds(3599);
    EXPECT_EQ(penalty.failures("10.99.0.5"), 6u);
    time.now += seconds(1);
    EXPECT_EQ(penalty.failures("10.99.0.5"), 0u);
    EXPECT_EQ(penalty.hold_for("10.99.0.5"), milliseconds(0));
    EXPECT_EQ(penalty.size(), 0u);
}

TEST(LoginPenalty, ParallelAttemptsFromOneAddressAreAnsweredOneAfterAnother) {
    FakeClock time;
    LoginPenalty penalty({}, time.clock());
    for (int i = 0; i < 6; ++i) fail_sequentially(penalty, time, "10.99.0.5");
    // Three connections try at the same instant: 15 s apart, not all at 15 s.
    EXPECT_EQ(penalty.hold_for("10.99.0.5"), milliseconds(15000));
    EXPECT_EQ(penalty.hold_for("10.99.0.5"), milliseconds(30000));
    EXPECT_EQ(penalty.hold_for("10.99.0.5"), milliseconds(45000));
    EXPECT_EQ(penalty.hold_for("10.99.0.5"), milliseconds(60000));  // max_wait
    EXPECT_EQ(penalty.hold_for("10.99.0.5"), milliseconds(60000));
}

TEST(LoginPenalty, TheTableIsBoundedAndForgetsTheOldestGuesserFirst) {
    FakeClock time;
    LoginPenalty penalty({.max_entries = 3}, time.clock());
    for (const char* ip : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}) {
        penalty.failed(ip);
        time.now += seconds(1);
    }
    EXPECT_EQ(penalty.size(), 3u);
    EXPECT_EQ(penalty.failures("10.0.0.1"), 0u);
    EXPECT_EQ(penalty.failures("10.0.0.4"), 1u);
}

}  // namespace
}  // namespace bm::apps
