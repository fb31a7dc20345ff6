// The intertwined path (ARCHITECTURE.md): the ACK for a request rides on
// the segment carrying the machine's reply; a pure ACK goes out only when no
// reply is due within the delayed-ACK time (RFC 1122 §4.2.3.2), e.g. in the
// middle of a DATA body or while a durable write is pending.
#include "tcp/tests/harness.hpp"

#include <algorithm>

#include "tcp/seq.hpp"

namespace bm::tcp::testing {
namespace {

class PiggybackTest : public EngineTest {
protected:
    // HELO, MAIL, RCPT (answered by the fake store), DATA: ready for a body.
    Client smtp_in_data() {
        Client c = connect(smtp_port);
        receive(c, send(c, "HELO client.test\r\n"));
        receive(c, send(c, "MAIL FROM:<alice@client.test>\r\n"));
        auto out = send(c, "RCPT TO:<bob@mx.test>\r\n");
        EXPECT_TRUE(out.empty());  // waiting on LookupUser, within the delayed-ACK time
        EXPECT_EQ(store_.calls.size(), 1u);
        answer(apps::UserFound{apps::Outcome::ok, "bob"});
        EXPECT_EQ(receive(c, out_.take()), "250 OK\r\n");
        EXPECT_EQ(receive(c, send(c, "DATA\r\n")), "354 End data with <CR><LF>.<CR><LF>\r\n");
        return c;
    }
};

TEST_F(PiggybackTest, Rfc1122_4_2_3_2_SmtpHeloAnsweredOnOneSegmentCarryingAckAnd250) {
    std::string greeting;
    Client c = connect(smtp_port, 40000, &greeting);
    EXPECT_EQ(greeting, "220 mx.test ESMTP baremail\r\n");
    auto out = send(c, "HELO client.test\r\n");
    ASSERT_EQ(out.size(), 1u);  // no pure ACK before it
    EXPECT_EQ(out[0].segment.flags, ACK | PSH);
    EXPECT_EQ(out[0].segment.ack, c.seq);  // acknowledges the HELO
    EXPECT_EQ(out[0].segment.seq, c.ack);
    EXPECT_EQ(out[0].payload, "250 mx.test\r\n");
    EXPECT_EQ(engine_->counters().pure_acks_out, 0u);
    // Nothing is owed afterwards: no delayed ACK follows.
    receive(c, out);
    EXPECT_TRUE(acknowledge(c).empty());
    EXPECT_TRUE(advance_ms(500).empty());
}

TEST_F(PiggybackTest, Rfc1122_4_2_3_2_Pop3CommandAnsweredOnOneSegment) {
    std::string greeting;
    Client c = connect(pop3_port, 40000, &greeting);
    EXPECT_EQ(greeting.substr(0, 24), "+OK baremail POP3 ready ");
    auto out = send(c, "USER bob\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | PSH);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(out[0].payload.substr(0, 3), "+OK");
    EXPECT_EQ(engine_->counters().pure_acks_out, 0u);
}

TEST_F(PiggybackTest, Rfc1122_4_2_3_2_EchoAnsweredOnOneSegment) {
    Client c = connect(echo_port);
    auto out = send(c, "ECHO hello world\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | PSH);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(out[0].payload, "+OK hello world\r\n");
    EXPECT_EQ(engine_->counters().pure_acks_out, 0u);
}

TEST_F(PiggybackTest, PipelinedCommandsSplitAnywhereStillOneReplySegmentPerArrival) {
    Client c = connect(echo_port);
    EXPECT_TRUE(send(c, "EC").empty());  // half a command: nothing to say yet
    auto out = send(c, "HO a\r\nECHO b\r\nEC");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload, "+OK a\r\n+OK b\r\n");
    EXPECT_EQ(out[0].segment.ack, c.seq);  // covers the partial third command too
}

TEST_F(PiggybackTest, Rfc1122_4_2_3_2_DelayedAckOnlyWhenNoReplyMidDataBody) {
    Client c = smtp_in_data();
    std::uint64_t pure_before = engine_->counters().pure_acks_out;
    auto out = send(c, "Subject: test\r\n\r\nfirst line of the body\r\n");
    EXPECT_TRUE(out.empty());  // no reply due: the ACK waits
    EXPECT_TRUE(advance_ms(39).empty());
    out = advance_ms(1);  // delayed_ack_ms = 40
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_TRUE(out[0].payload.empty());
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(engine_->counters().pure_acks_out, pure_before + 1);
}

TEST_F(PiggybackTest, Rfc1122_4_2_3_2_EverySecondFullSizedSegmentAckedAtOnce) {
    Client c = smtp_in_data();
    std::string line(1458, 'x');
    line += "\r\n";  // 1460 bytes: one full-sized segment
    EXPECT_TRUE(send(c, line).empty());
    auto out = send(c, line);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, c.seq);
}

TEST_F(PiggybackTest, DataAckedWithinDelayedAckTimeWhileDeliverPendingThen250WhenStoreReplies) {
    Client c = smtp_in_data();
    EXPECT_TRUE(send(c, "Subject: test\r\n\r\nhello\r\n.\r\n").empty());
    ASSERT_EQ(store_.calls.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<apps::Deliver>(store_.calls[0].request));
    // The disk is slow: the client must not retransmit, so the data is
    // ACKed after delayed_ack_ms without the reply.
    auto out = advance_ms(40);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    advance_ms(200);
    answer(apps::Delivered{apps::Outcome::ok, ""});
    out = out_.take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | PSH);
    EXPECT_EQ(out[0].payload, "250 OK\r\n");
}

TEST_F(PiggybackTest, StoreAnsweringWithinDelayedAckTimeMeansNoPureAckAtAll) {
    Client c = smtp_in_data();
    std::uint64_t pure_before = engine_->counters().pure_acks_out;
    EXPECT_TRUE(send(c, "Subject: test\r\n\r\nhello\r\n.\r\n").empty());
    advance_ms(10);
    answer(apps::Delivered{apps::Outcome::ok, ""});
    auto out = out_.take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(out[0].payload, "250 OK\r\n");
    EXPECT_TRUE(advance_ms(100).empty());
    EXPECT_EQ(engine_->counters().pure_acks_out, pure_before);
}

TEST_F(PiggybackTest, Rfc9293_3_8_6_WindowShrinksWhileInputIsHeldAndReopensAfterStoreReply) {
    EngineConfig config = test_config();
    config.receive_window = 16384;
    start(config);
    Client c = connect(smtp_port, 40000, nullptr, /*scale=*/false);
    receive(c, send(c, "HELO client.test\r\n"));
    receive(c, send(c, "MAIL FROM:<alice@client.test>\r\n"));
    EXPECT_TRUE(send(c, "RCPT TO:<bob@mx.test>\r\n").empty());
    // Pipelined behind the lookup: 10000 bytes. The machine's own line
    // buffer takes up to 4000 while it waits; the TCB holds the rest.
    std::string noops;
    for (int i = 0; i < 1000; ++i) noops += "NOOP 1234\r\n";
    noops.resize(10000);  // the last command is cut; the rest would follow
    auto out = send(c, noops);  // more than two full-sized segments: ACKed at once
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].payload.empty());
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(out[0].segment.window, 16384 - 6000);  // the 6000 held bytes fill the window
    answer(apps::UserFound{apps::Outcome::ok, "bob"});
    out = out_.take();
    ASSERT_FALSE(out.empty());
    std::string replies = receive(c, out);
    EXPECT_EQ(replies.substr(0, 8), "250 OK\r\n");
    EXPECT_EQ(replies.size(), 8u * 910);  // RCPT and 909 NOOPs
    EXPECT_EQ(out.back().segment.window, 16384);  // all taken by the machine: open again
    EXPECT_EQ(out.back().segment.ack, c.seq);
}

// RFC 7323 §2.3: the scaled window field is rounded up so the right edge
// never moves left; while the machine waits on the store (a spooled DATA
// chunk), a sender that fills the window to that edge must lose no byte,
// or it stalls for a retransmission timeout.
TEST_F(PiggybackTest, Rfc7323_2_3_EveryByteOfTheScaledWindowIsKeptWhileTheMachineWaits) {
    Client c = smtp_in_data();
    const std::string line = std::string(1446, 'x') + "\r\n";
    std::uint32_t edge = c.seq + 4 * 1448;  // well inside the first window
    auto note_edge = [&](const std::vector<Sent>& out) {
        for (const Sent& s : out) {
            std::uint32_t right = s.segment.ack + (std::uint32_t(s.segment.window) << 7);
            if (seq_gt(right, edge)) edge = right;
        }
    };
    while (store_.calls.empty()) note_edge(send(c, line));
    ASSERT_TRUE(std::holds_alternative<apps::SpoolChunk>(store_.calls.front().request));
    note_edge(advance_ms(500));  // the delayed ACK, with the window as it stands
    while (seq_lt(c.seq, edge)) {
        std::size_t len = std::min<std::size_t>(line.size(), edge - c.seq);
        note_edge(send(c, std::string_view(line).substr(0, len)));
    }
    EXPECT_EQ(engine_->counters().dropped_no_room, 0u);
    answer(apps::Spooled{apps::Outcome::ok, 1});
    auto out = out_.take();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back().segment.ack, c.seq);  // every byte sent was taken
    EXPECT_GT(out.back().segment.window, 0u);
}

}  // namespace
}  // namespace bm::tcp::testing
