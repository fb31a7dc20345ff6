#include "dataplane/dpdk/idle_policy.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "dataplane/common/options.hpp"

namespace bm::dpdk {
namespace {

TEST(IdlePolicy, PollsThroughTheIdleSpellThenArmsThenSleeps) {
    IdlePolicy idle(100);
    EXPECT_EQ(idle.after(true, 1'000), IdleStep::poll);
    EXPECT_EQ(idle.after(false, 1'050), IdleStep::poll);
    EXPECT_EQ(idle.after(false, 1'099), IdleStep::poll);
    EXPECT_EQ(idle.after(false, 1'100), IdleStep::arm);
    EXPECT_EQ(idle.after(false, 1'101), IdleStep::sleep);
    // Woken with nothing to do (a timeout): the spell is long over, so it
    // goes back to sleep after one armed pass.
    EXPECT_EQ(idle.after(false, 5'000), IdleStep::arm);
    EXPECT_EQ(idle.after(false, 5'001), IdleStep::sleep);
}

TEST(IdlePolicy, WorkInTheArmedPassDisarmsAndRestartsTheSpell) {
    IdlePolicy idle(100);
    EXPECT_EQ(idle.after(false, 200), IdleStep::arm);
    EXPECT_EQ(idle.after(true, 201), IdleStep::disarm);
    EXPECT_EQ(idle.after(false, 250), IdleStep::poll);
    EXPECT_EQ(idle.after(true, 260), IdleStep::poll);  // not armed: nothing to undo
    EXPECT_EQ(idle.after(false, 359), IdleStep::poll);
    EXPECT_EQ(idle.after(false, 360), IdleStep::arm);
}

TEST(IdlePolicy, ZeroSpellSleepsAfterTheFirstIdlePass) {
    IdlePolicy idle(0);
    EXPECT_EQ(idle.after(true, 10), IdleStep::poll);
    EXPECT_EQ(idle.after(false, 10), IdleStep::arm);
    EXPECT_EQ(idle.after(false, 11), IdleStep::sleep);
}

TEST(IdlePolicy, BlindSleepsGrowWithTheIdleTimeWithinBounds) {
    IdlePolicy idle(100);
    idle.after(true, 10'000);
    EXPECT_EQ(idle.blind_sleep_us(10'100), 50u);    // just after the spell: the shortest
    EXPECT_EQ(idle.blind_sleep_us(10'300), 150u);   // half the idle time
    EXPECT_EQ(idle.blind_sleep_us(11'000), 500u);
    EXPECT_EQ(idle.blind_sleep_us(60'000), 1000u);  // long idle: the longest
    idle.after(true, 60'000);
    EXPECT_EQ(idle.blind_sleep_us(60'120), 60u);    // work starts it over
}

TEST(SleepTimeout, UntilTheDeadlineNeverPastTheCap) {
    EXPECT_EQ(sleep_us(1'000, 1'000, 100'000), 0u);
    EXPECT_EQ(sleep_us(1'000, 900, 100'000), 0u);
    EXPECT_EQ(sleep_us(1'000, 3'001, 100'000), 2'001u);
    EXPECT_EQ(sleep_us(0, ~std::uint64_t(0), 100'000), 100'000u);
}

TEST(SleepTimeout, WholeMillisecondsRoundUp) {
    EXPECT_EQ(whole_ms(0), 0);
    EXPECT_EQ(whole_ms(1), 1);
    EXPECT_EQ(whole_ms(1'000), 1);
    EXPECT_EQ(whole_ms(2'001), 3);
    EXPECT_EQ(whole_ms(~std::uint64_t(0)), std::numeric_limits<int>::max());
}

Options parse(std::vector<std::string> args, Build build = Build::dpdk) {
    args.insert(args.begin(), {"baremail", "-d", "/tmp"});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    return parse_options(int(argv.size()), argv.data(), build);
}

TEST(PollOptions, DefaultIsAdaptiveWithA100MicrosecondSpell) {
    Options o = parse({});
    EXPECT_FALSE(o.busy_poll);
    EXPECT_EQ(o.poll_idle_us, 100u);
}

TEST(PollOptions, ModesAndSpell) {
    EXPECT_TRUE(parse({"--poll", "busy"}).busy_poll);
    EXPECT_FALSE(parse({"--poll", "adaptive"}).busy_poll);
    EXPECT_EQ(parse({"--poll-idle-us", "0"}).poll_idle_us, 0u);
    EXPECT_EQ(parse({"--poll-idle-us", "2500"}).poll_idle_us, 2500u);
}

TEST(PollOptions, BadValuesAndTheKernelBuildAreUsageErrors) {
    EXPECT_THROW(parse({"--poll", "sometimes"}), UsageError);
    EXPECT_THROW(parse({"--poll-idle-us", "-1"}), UsageError);
    EXPECT_THROW(parse({"--poll-idle-us", "1000001"}), UsageError);
    EXPECT_THROW(parse({"--poll", "busy"}, Build::kernel), UsageError);
    EXPECT_THROW(parse({"--poll-idle-us", "50"}, Build::kernel), UsageError);
}

}  // namespace
}  // namespace bm::dpdk
