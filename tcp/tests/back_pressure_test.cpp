// Back-pressure on replies, the send timeout and the idle timer's progress
// rule, driven segment by segment. A client that sends bare LFs and never
// ACKs our replies makes the machine answer each with a 500 line: past the
// TCB's bound on queued bytes the engine stops taking its text, holds what
// the window promised, and the window closes (RFC 9293 §3.8.6: a zero
// window; text beyond it is not accepted). --send-timeout resets a peer
// that ACKs nothing; the idle timer restarts on completed lines only.
#include <algorithm>
#include <string>

#include "tcp/tests/harness.hpp"

namespace bm::tcp::testing {
namespace {

constexpr std::size_t send_bound = 256 * 1024;  // the TCB's send ring (engine_impl.hpp)
constexpr std::size_t reply_size = 23;          // "500 Error: bad syntax\r\n" (no EHLO: no enhanced code)

class BackPressureTest : public EngineTest {
protected:
    void SetUp() override {
        EngineConfig config = test_config();
        start(config_with(60));
    }
    static EngineConfig config_with(std::uint32_t smtp_idle_s) {
        EngineConfig config = test_config();
        config.send_timeout_s = 3;
        config.idle_timeout_s[0] = smtp_idle_s;
        // The flood of 500s is the point here, not --max-errors (which
        // would end it after 20).
        apps::HostConfig host = config.services->config();
        host.smtp.max_errors = 0;
        config.services = std::make_shared<const apps::ServiceHost>(std::move(host));
        return config;
    }

    // Sends `segments` full segments of LFs without ACKing any reply;
    // returns the last segment the server sent (its ACK and window).
    Sent flood(Client& c, int segments) {
        const std::string lfs(1460, '\n');
        flooded_.clear();
        for (int i = 0; i < segments; ++i)
            for (Sent& s : send(c, lfs, ACK)) flooded_.push_back(std::move(s));
        for (Sent& s : advance_ms(50)) flooded_.push_back(std::move(s));  // a delayed ACK
        return flooded_.empty() ? Sent{} : flooded_.back();
    }
    std::vector<Sent> flooded_;  // what the server sent meanwhile

    bool logged(const std::string& event) const {
        return std::find(log_.events.begin(), log_.events.end(), event) != log_.events.end();
    }
};

TEST_F(BackPressureTest, Rfc9293_3_8_6_LfFloodThatNeverReadsClosesTheWindow) {
    Client c = connect(smtp_port);
    const std::uint32_t first = c.seq;
    Sent last = flood(c, 200);  // 292,000 LFs: 8.5 MB of replies if all were taken
    std::uint32_t accepted = last.segment.ack - first;
    // Taken: as many LFs as fill the bound with replies (plus one slice);
    // held: one receive window. Nothing more.
    std::size_t most = (send_bound + 64 * 1024) / reply_size + config_.receive_window + 4 * 1460;
    EXPECT_LT(accepted, most);
    EXPECT_GT(accepted, send_bound / reply_size);
    EXPECT_EQ(last.segment.window, 0);
    EXPECT_GT(engine_->counters().dropped_out_of_window + engine_->counters().dropped_no_room, 0u);
}

TEST_F(BackPressureTest, InputHeldBackIsTakenOnceThePeerReads) {
    Client c = connect(smtp_port);
    // 40 segments: past the bound, but within what the window holds.
    flood(c, 40);
    const std::size_t all = 40u * 1460 * reply_size;  // every LF answered
    std::size_t replies = receive(c, flooded_).size();  // what came while it did not read
    for (int round = 0; round < 5000 && replies < all; ++round) {
        std::vector<Sent> out = acknowledge(c);
        for (const Sent& s : advance_ms(1)) out.push_back(s);
        replies += receive(c, out).size();
    }
    EXPECT_EQ(replies, all);
}

TEST_F(BackPressureTest, SendTimeoutResetsAPeerThatAcksNothing) {
    Client c = connect(smtp_port);
    flood(c, 20);
    EXPECT_TRUE(std::none_of(out_.segments.begin(), out_.segments.end(),
                             [](const Sent& s) { return s.segment.flags & RST; }));
    std::vector<Sent> out;
    for (int i = 0; i < 40; ++i) {  // 4 s in steps: the retransmissions come and go
        for (const Sent& s : advance_ms(100)) out.push_back(s);
        if (engine_->open_connections() == 0) break;
    }
    EXPECT_EQ(engine_->open_connections(), 0u);
    ASSERT_FALSE(out.empty());
    EXPECT_TRUE(out.back().segment.flags & RST);
    EXPECT_TRUE(logged("smtp 10.99.0.1:40000 timeout send"));
    EXPECT_TRUE(logged("smtp 10.99.0.1:40000 disconnect send timeout"));
}

TEST_F(BackPressureTest, AckedProgressRestartsTheSendTimeout) {
    Client c = connect(smtp_port);
    flood(c, 20);
    for (int i = 0; i < 5; ++i) {  // 10 s: a slow reader that takes a little every 2 s
        std::vector<Sent> out = advance_ms(2000);
        receive(c, out);
        c.window = 64;  // it reads little at a time
        receive(c, acknowledge(c));
        ASSERT_EQ(engine_->open_connections(), 1u)
            << "reset after " << (i + 1) * 2 << " s: " << ::testing::PrintToString(log_.events);
    }
    EXPECT_FALSE(logged("smtp 10.99.0.1:40000 timeout send"));
}

// Slowloris: bytes that complete no line do not restart the idle timer.
TEST_F(BackPressureTest, CommandLineSlowerThanTheIdleTimeoutEndsTheSession) {
    start(config_with(2));
    Client c = connect(smtp_port);
    std::string text;
    for (char byte : std::string("NOOP NOOP NOOP")) {
        text += receive(c, send(c, std::string(1, byte)));
        text += receive(c, advance_ms(500));
        if (!text.empty()) break;
    }
    EXPECT_EQ(text, "421 mx.test Error: timeout exceeded\r\n");
    EXPECT_TRUE(logged("smtp 10.99.0.1:40000 timeout idle"));
}

TEST_F(BackPressureTest, CompletedCommandsRestartTheIdleTimer) {
    start(config_with(2));
    Client c = connect(smtp_port);
    for (int i = 0; i < 5; ++i) {  // 7.5 s in all, each command within 2 s
        EXPECT_EQ(receive(c, advance_ms(1500)), "");
        EXPECT_EQ(receive(c, send(c, "NOOP\r\n")), "250 OK\r\n");
    }
    EXPECT_FALSE(logged("smtp 10.99.0.1:40000 timeout idle"));
}

}  // namespace
}  // namespace bm::tcp::testing
