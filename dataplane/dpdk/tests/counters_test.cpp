#include "dataplane/dpdk/counters.hpp"

#include <gtest/gtest.h>

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
    EXPECT_EQ(text.find("drop.ip_options"), std::string::npos);
    EXPECT_NE(format_counters(c, false).find("drop.ip_options 0\n"), std::string::npos);
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

}  // namespace
}  // namespace bm::dpdk
