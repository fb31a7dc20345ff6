// RFC 5961: blind in-window attacks. §3 RST, §4 SYN, §5 ACK; and the RFC
// 9293 §3.10.7.4 first check that precedes them.
#include "tcp/tests/harness.hpp"

namespace bm::tcp::testing {
namespace {

using Rfc5961Test = EngineTest;

TEST_F(Rfc5961Test, Rfc5961_3_2_InWindowRstGetsChallengeAck) {
    Client c = connect(echo_port);
    Client attacker = c;
    attacker.seq = c.seq + 1000;  // inside the window, not RCV.NXT
    auto out = arrive(segment(attacker, RST));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.seq, c.ack);  // SND.NXT
    EXPECT_EQ(out[0].segment.ack, c.seq);  // RCV.NXT
    EXPECT_EQ(engine_->counters().challenge_acks, 1u);
    EXPECT_EQ(engine_->open_connections(), 1u);
    EXPECT_EQ(send(c, "ECHO alive\r\n")[0].payload, "+OK alive\r\n");
}

TEST_F(Rfc5961Test, Rfc5961_3_2_ExactRstClosesTheConnection) {
    Client c = connect(echo_port);
    EXPECT_TRUE(arrive(segment(c, RST)).empty());
    EXPECT_EQ(engine_->open_connections(), 0u);
    EXPECT_EQ(log_.events.back(), "echo 10.99.0.1:40000 disconnect reset");
    // The 4-tuple is free again: data now earns a reset.
    auto out = send(c, "ECHO gone\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST);
}

TEST_F(Rfc5961Test, Rfc5961_3_2_OutOfWindowRstSilentlyDropped) {
    Client c = connect(echo_port);
    Client attacker = c;
    attacker.seq = c.seq + 10'000'000;
    EXPECT_TRUE(arrive(segment(attacker, RST)).empty());
    EXPECT_EQ(engine_->open_connections(), 1u);
}

TEST_F(Rfc5961Test, Rfc5961_4_2_InWindowSynGetsChallengeAck) {
    Client c = connect(echo_port);
    Client attacker = c;
    attacker.seq = c.seq + 10;
    auto out = arrive(segment(attacker, SYN));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(engine_->open_connections(), 1u);
    EXPECT_EQ(engine_->counters().challenge_acks, 1u);
}

TEST_F(Rfc5961Test, Rfc5961_5_2_AckBeyondSndNxtDroppedWithChallengeAck) {
    Client c = connect(echo_port);
    Client attacker = c;
    attacker.ack = c.ack + 5000;  // acknowledges data never sent
    auto out = send(attacker, "ECHO injected\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_TRUE(out[0].payload.empty());
    EXPECT_EQ(out[0].segment.ack, c.seq);  // the injected text was not taken
    EXPECT_EQ(engine_->counters().challenge_acks, 1u);
    EXPECT_EQ(send(c, "ECHO real\r\n")[0].payload, "+OK real\r\n");
}

TEST_F(Rfc5961Test, Rfc5961_5_2_AckTooFarBehindDroppedWithChallengeAck) {
    Client c = connect(echo_port);
    Client attacker = c;
    attacker.ack = c.ack - 200'000;  // below SND.UNA - MAX.SND.WND
    auto out = send(attacker, "ECHO injected\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].payload.empty());
    EXPECT_EQ(out[0].segment.ack, c.seq);
}

TEST_F(Rfc5961Test, Rfc5961_7_ChallengeAcksAreRateLimitedPerConnection) {
    Client c = connect(echo_port, 40000);
    Client other = connect(echo_port, 40001);
    Client attacker = c;
    attacker.seq = c.seq + 100;
    std::size_t sent = 0;
    for (int i = 0; i < 150; ++i) sent += arrive(segment(attacker, RST)).size();
    EXPECT_EQ(sent, 100u);
    // No shared budget: another connection's challenge ACK is unaffected
    // (the CVE-2016-5696 side channel needs a shared one).
    Client attacker2 = other;
    attacker2.seq = other.seq + 100;
    EXPECT_EQ(arrive(segment(attacker2, RST)).size(), 1u);
    advance_ms(1000);
    EXPECT_EQ(arrive(segment(attacker, RST)).size(), 1u);
}

TEST_F(Rfc5961Test, Rfc9293_3_10_7_4_UnacceptableSegmentGetsAckAndIsDropped) {
    Client c = connect(echo_port);
    Client stale = c;
    stale.seq = c.seq + 70'000;  // beyond the window
    auto out = send(stale, "ECHO far\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(engine_->counters().dropped_out_of_window, 1u);
}

}  // namespace
}  // namespace bm::tcp::testing
