// Piggybacking (ARCHITECTURE.md): the ACK for a request is piggybacked on
// the segment carrying the machine's reply; a pure ACK goes out only when no
// reply is due within the delayed-ACK time (RFC 1122 §4.2.3.2), e.g. while a
// durable write is pending. Where the machine says no reply is due at all
// (a DATA body before its final dot), a pushed segment, or one that leaves
// the peer less than half the window it was offered, is ACKed at once: a
// Nagle sender (RFC 9293 §3.7.4) holds its next small piece for that ACK.
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

TEST_F(PiggybackTest, Rfc1122_4_2_3_2_UnpushedMidDataSegmentGetsTheDelayedAck) {
    Client c = smtp_in_data();
    std::uint64_t pure_before = engine_->counters().pure_acks_out;
    // No PSH: more follows at once, its arrival (or the timer) ACKs both.
    auto out = send(c, "Subject: test\r\n\r\nfirst line of the body\r\n", ACK);
    EXPECT_TRUE(out.empty());
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
    EXPECT_TRUE(send(c, line, ACK).empty());  // not pushed, a small part of the window
    auto out = send(c, line, ACK);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, c.seq);
}

// A Nagle client writing the body in pieces: each pushed piece is ACKed at
// once, with nothing else in the segment (no reply is due in a body).
TEST_F(PiggybackTest, Rfc1122_4_2_3_2_PushedMidDataSegmentAckedAtOnce) {
    Client c = smtp_in_data();
    std::uint64_t pure_before = engine_->counters().pure_acks_out;
    for (std::string_view piece : {"Subject: test\r\n", "\r\n", "first line", " of the body\r\n"}) {
        auto out = send(c, piece);  // ACK | PSH
        ASSERT_EQ(out.size(), 1u) << piece;
        EXPECT_EQ(out[0].segment.flags, ACK);
        EXPECT_TRUE(out[0].payload.empty());
        EXPECT_EQ(out[0].segment.ack, c.seq);
        EXPECT_EQ(out[0].segment.seq, c.ack);
    }
    EXPECT_EQ(engine_->counters().pure_acks_out, pure_before + 4);
    EXPECT_TRUE(advance_ms(500).empty());  // nothing left owed
}

// RFC 9293 §3.8.6.3: ACK before the sender runs short of window. Unpushed
// body bytes past half the window last offered are ACKed at once; up to
// half they wait for the delayed-ACK time.
TEST_F(PiggybackTest, Rfc9293_3_8_6_3_MidDataSegmentLeavingLessThanHalfTheWindowAckedAtOnce) {
    EngineConfig config = test_config();
    config.receive_window = 4096;
    start(config);
    Client c = smtp_in_data();
    EXPECT_TRUE(send(c, std::string(1000, 'a') + "\r\n", ACK).empty());
    EXPECT_TRUE(send(c, std::string(1000, 'b') + "\r\n", ACK).empty());  // 2004 of 4096
    auto out = send(c, std::string(98, 'c') + "\r\n", ACK);              // 2104 of 4096
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(std::uint32_t(out[0].segment.window) << 7, 4096u);  // the machine took it all
}

// Only a body is answered by no reply: a command line, even pushed, is
// ACKed by its reply, never by a pure ACK first.
TEST_F(PiggybackTest, Rfc1122_4_2_3_2_PushedCommandLinesAnsweredOnOneSegmentAroundTheBody) {
    Client c = connect(smtp_port);
    receive(c, send(c, "HELO client.test\r\n"));
    EXPECT_TRUE(send(c, "MAIL FROM:<alice", ACK | PSH).empty());  // half a command: the reply comes later
    auto out = send(c, "@client.test>\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | PSH);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(receive(c, out), "250 OK\r\n");
    EXPECT_TRUE(send(c, "RCPT TO:<bob@mx.test>\r\n").empty());  // the lookup is pending
    answer(apps::UserFound{apps::Outcome::ok, "bob"});
    receive(c, out_.take());
    out = send(c, "DATA\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | PSH);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(receive(c, out), "354 End data with <CR><LF>.<CR><LF>\r\n");
    receive(c, send(c, "Subject: test\r\n\r\nbody\r\n"));  // the pure ACK of the body
    std::uint64_t pure_before = engine_->counters().pure_acks_out;
    EXPECT_TRUE(send(c, ".\r\n").empty());  // the final dot: the 250 is due
    answer(apps::Delivered{apps::Outcome::ok, ""});
    out = out_.take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(receive(c, out), "250 OK\r\n");
    out = send(c, "MAIL FROM:<alice@client.test>\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(receive(c, out), "250 OK\r\n");
    EXPECT_TRUE(acknowledge(c).empty());
    EXPECT_TRUE(advance_ms(500).empty());
    EXPECT_EQ(engine_->counters().pure_acks_out, pure_before);
}

// The final dot arriving alone, pushed, after pieces ACKed at once: a store
// answering within the delayed-ACK time puts its 250 on the only segment;
// a slow one gets the data ACKed after the delayed-ACK time (the durable
// write is pending, the client must not retransmit), then the 250.
TEST_F(PiggybackTest, Rfc1122_4_2_3_2_FinalDotWaitsForTheReplyOrTheDelayedAckTime) {
    Client c = smtp_in_data();
    receive(c, send(c, "Subject: test\r\n\r\n"));
    receive(c, send(c, "hello\r\n"));
    std::uint64_t pure_before = engine_->counters().pure_acks_out;
    EXPECT_TRUE(send(c, ".\r\n").empty());
    ASSERT_EQ(store_.calls.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<apps::Deliver>(store_.calls[0].request));
    EXPECT_TRUE(advance_ms(39).empty());
    auto out = advance_ms(1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_TRUE(out[0].payload.empty());
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(engine_->counters().pure_acks_out, pure_before + 1);
    answer(apps::Delivered{apps::Outcome::ok, ""});
    EXPECT_EQ(receive(c, out_.take()), "250 OK\r\n");
}

// While a spool chunk is being written the machine takes no input; the
// body bytes are held in the TCB and a pushed one is still ACKed at once,
// with the window as it stands.
TEST_F(PiggybackTest, Rfc1122_4_2_3_2_PushedBodySegmentHeldWhileSpoolingAckedAtOnce) {
    Client c = smtp_in_data();
    const std::string line = std::string(1446, 'x') + "\r\n";
    while (store_.calls.empty()) send(c, line, ACK);
    ASSERT_TRUE(std::holds_alternative<apps::SpoolChunk>(store_.calls.front().request));
    advance_ms(500);  // the delayed ACK of the last piece, if any
    auto out = send(c, "pushed\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(store_.calls.size(), 1u);  // still waiting on the chunk: the bytes are held
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
