#include "dataplane/dpdk/counters.hpp"

#include <gtest/gtest.h>

#include "dataplane/dpdk/cycle_meter.hpp"

namespace bm::dpdk {
namespace {

TEST(Counters, FormatShowsCountsAndOnlyNonzeroDrops) {
    Counters c;
    c.port.rx_packets.add(3);
    c.rx(Protocol::icmp);
    c.drop(DropReason::ip_fragment);
    c.drop(DropReason::ip_fragment);
    std::string text = format_counters(c, true);
    EXPECT_NE(text.find("port.rx_packets 3\n"), std::string::npos);
    EXPECT_NE(text.find("icmp.rx 1\n"), std::string::npos);
    EXPECT_NE(text.find("drop.ip_fragment 2\n"), std::string::npos);
    EXPECT_EQ(text.find("drop.ip_source_route"), std::string::npos);
    EXPECT_NE(format_counters(c, false).find("drop.ip_source_route 0\n"), std::string::npos);
}

TEST(Counters, EveryDropReasonHasAName) {
    for (std::size_t i = 0; i < drop_reason_count; ++i)
        EXPECT_STRNE(drop_reason_name(DropReason(i)), "?");
}

TEST(Counters, EngineSnapshot) {
    Counters c;
    tcp::Counters engine;
    engine.segments_in = 7;
    engine.refused_max_conn = 2;
    c.snapshot_engine(engine);
    std::string text = format_counters(c, true);
    EXPECT_NE(text.find("tcp.segments_in 7\n"), std::string::npos);
    EXPECT_NE(text.find("tcp.refused_max_conn 2\n"), std::string::npos);
}

TEST(CycleMeter, ChargesEachLapToTheIterationThatRanInIt) {
    Counters c;
    CycleMeter meter(c.poll, 2'000'000'000);
    meter.lap(1'000, false);  // the first start: nothing before it
    meter.lap(1'300, true);   // 300 cycles of work
    meter.lap(1'350, false);  // 50 of an empty poll
    meter.lap(9'350, false);  // an idle pass and the sleep after it
    meter.lap(9'600, true);   // 250 of work after the wake-up
    EXPECT_EQ(c.poll.busy_cycles.get(), 550u);
    EXPECT_EQ(c.poll.total_cycles.get(), 8'600u);
    EXPECT_EQ(c.poll.iterations_busy.get(), 2u);
    EXPECT_EQ(c.poll.iterations_idle.get(), 2u);
    EXPECT_EQ(c.poll.tsc_hz.get(), 2'000'000'000u);
}

TEST(Counters, PollCountersAreReported) {
    Counters c;
    CycleMeter meter(c.poll, 1'000);
    meter.lap(0, false);
    meter.lap(40, true);
    c.poll.rx_interrupts.set(1);
    std::string text = format_counters(c, true);
    for (const char* line : {"poll.busy_cycles 40\n", "poll.total_cycles 40\n", "poll.tsc_hz 1000\n",
                             "poll.iterations_busy 1\n", "poll.iterations_idle 0\n", "poll.sleeps 0\n",
                             "poll.rx_interrupts 1\n"})
        EXPECT_NE(text.find(line), std::string::npos) << line;
}

}  // namespace
}  // namespace bm::dpdk
