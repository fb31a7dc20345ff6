// Scale: 10,000 connections opened and left idle, from the preallocated pool.
#include <chrono>
#include <cstdio>

#include "tcp/tests/harness.hpp"

namespace bm::tcp::testing {
namespace {

using ScaleTest = EngineTest;

TEST_F(ScaleTest, TenThousandIdleTcbsFromThePreallocatedPool) {
    EngineConfig config = test_config();
    config.tcb_capacity = 10'000;
    config.max_conn_per_service = 10'000;
    config.syn_backlog = 10'000;
    start(config);
    auto begin = std::chrono::steady_clock::now();
    for (std::uint32_t i = 0; i < 10'000; ++i) {
        Client c;
        c.tuple = {server_ip, echo_port, client_ip + (i >> 14), std::uint16_t(20000 + (i & 0x3fff))};
        c.seq = client_isn;
        engine_->on_segment(segment(c, SYN), now_);
        ASSERT_EQ(out_.segments.size(), 1u);
        c.seq = client_isn + 1;
        c.ack = out_.segments[0].segment.seq + 1;
        out_.segments.clear();
        engine_->on_segment(segment(c, ACK), now_);
        out_.segments.clear();
        payload_store_.clear();
    }
    auto opened = std::chrono::steady_clock::now();
    EXPECT_EQ(engine_->open_connections(), 10'000u);
    // One more finds the pool empty: a cookie is all it gets.
    Client extra;
    extra.tuple = tuple_for(echo_port, 1);
    extra.seq = client_isn;
    auto out = arrive(segment(extra, SYN));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(engine_->counters().syn_cookies_sent, 1u);
    // Greetings go unacknowledged: retransmissions, then quiet idling.
    advance_ms(5000);
    out_.segments.clear();
    auto timers_begin = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) advance_ms(1);
    auto timers_end = std::chrono::steady_clock::now();
    std::printf("[ scale    ] tcb_size=%zu bytes, 10000 TCBs = %.1f MB; open took %.1f ms; "
                "1000 timer passes over 10000 idle TCBs took %.1f ms\n",
                Engine::tcb_size(), Engine::tcb_size() * 10000 / 1e6,
                std::chrono::duration<double, std::milli>(opened - begin).count(),
                std::chrono::duration<double, std::milli>(timers_end - timers_begin).count());
    EXPECT_EQ(engine_->open_connections(), 10'000u);
}

}  // namespace
}  // namespace bm::tcp::testing
