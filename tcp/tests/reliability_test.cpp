// Reliability: RFC 6298 retransmission timer, RFC 5681/6582 fast retransmit,
// RFC 9293 §3.10.7.4 out-of-order reassembly, §3.8.6.1 zero-window probes,
// and a reply far larger than the send ring (POP3 RETR).
#include "tcp/tests/harness.hpp"

namespace bm::tcp::testing {
namespace {

using ReliabilityTest = EngineTest;

TEST_F(ReliabilityTest, Rfc6298_RetransmitAfterRtoWithDoubledTimeout) {
    Client c;
    c.tuple = tuple_for(echo_port);
    c.seq = client_isn;
    auto out = arrive(segment(c, SYN));
    c.seq = client_isn + 1;
    c.ack = out[0].segment.seq + 1;
    advance_ms(100);  // RTT sample of the SYN-ACK: 100 ms -> RTO 300 ms
    out = arrive(segment(c, ACK));
    ASSERT_EQ(out.size(), 1u);
    const Sent greeting = out[0];
    // The greeting is lost: resent after the RTO, then after twice that.
    EXPECT_TRUE(advance_ms(299).empty());
    out = advance_ms(1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.seq, greeting.segment.seq);
    EXPECT_EQ(out[0].payload, greeting.payload);
    EXPECT_TRUE(advance_ms(599).empty());
    out = advance_ms(1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload, greeting.payload);
    EXPECT_EQ(engine_->counters().retransmits, 2u);
    // Acknowledged at last: the timer stops.
    c.ack = greeting.segment.seq + std::uint32_t(greeting.payload.size());
    EXPECT_TRUE(acknowledge(c).empty());
    EXPECT_TRUE(advance_ms(5000).empty());
}

// Karn: the ACK of a retransmitted SYN-ACK is no RTT sample, so the backed-
// off RTO (1 s -> 2 s -> 4 s) carries into the connection (RFC 6298 §5.7
// asks for at least 3 s after a SYN timed out).
TEST_F(ReliabilityTest, Rfc6298_3_KarnNoRttSampleFromARetransmittedSynAck) {
    Client c;
    c.tuple = tuple_for(echo_port);
    c.seq = client_isn;
    auto out = arrive(segment(c, SYN));
    ASSERT_EQ(out.size(), 1u);
    c.seq = client_isn + 1;
    c.ack = out[0].segment.seq + 1;
    ASSERT_EQ(advance_ms(1000).size(), 1u);  // SYN-ACK resent after 1 s
    ASSERT_EQ(advance_ms(2000).size(), 1u);  // and after 2 s more
    out = arrive(segment(c, ACK));          // 3 s after the first SYN-ACK
    ASSERT_EQ(out.size(), 1u);               // the greeting; it is lost
    EXPECT_TRUE(advance_ms(3999).empty());
    EXPECT_EQ(advance_ms(1).size(), 1u);
}

TEST_F(ReliabilityTest, Rfc6298_RtoFloorIs200msAfterAZeroRttSample) {
    Client c = connect(echo_port);  // the SYN-ACK was answered at once: SRTT 0
    auto out = send(c, "ECHO x\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(advance_ms(199).empty());
    EXPECT_EQ(advance_ms(1).size(), 1u);  // 200 ms floor after a sample of 0
}

TEST_F(ReliabilityTest, Rfc1122_4_2_3_5_GivesUpAfterRetriesWithReset) {
    Client c = connect(echo_port);
    send(c, "ECHO x\r\n");
    std::vector<Sent> all;
    for (int i = 0; i < 40; ++i) {
        auto out = advance_ms(60'000);
        all.insert(all.end(), out.begin(), out.end());
    }
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.back().segment.flags, RST);
    EXPECT_EQ(engine_->open_connections(), 0u);
}

TEST_F(ReliabilityTest, Rfc5681_3_2_FastRetransmitAfterThreeDuplicateAcks) {
    Client c = connect(echo_port);
    std::string request;
    for (char ch = 'a'; ch < 'a' + 6; ++ch) request += "ECHO " + std::string(900, ch) + "\r\n";
    auto out = send(c, request);
    ASSERT_GE(out.size(), 4u);  // ~5.4 KB of replies within IW10
    for (const Sent& s : out) EXPECT_LE(s.payload.size(), 1460u);
    std::uint32_t first = out[0].segment.seq;
    std::uint32_t second = out[1].segment.seq;
    EXPECT_EQ(second, first + 1460);
    // The first arrives, the second is lost, the rest produce duplicates.
    c.ack = second;
    EXPECT_TRUE(acknowledge(c).empty());
    EXPECT_TRUE(acknowledge(c).empty());
    EXPECT_TRUE(acknowledge(c).empty());
    out = acknowledge(c);  // the third duplicate
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.seq, second);
    EXPECT_EQ(out[0].payload.size(), 1460u);
    EXPECT_EQ(engine_->counters().retransmits, 1u);
}

TEST_F(ReliabilityTest, Rfc9293_3_10_7_4_OutOfOrderSegmentsReassembled) {
    Client c = connect(echo_port);
    Client later = c;
    later.seq = c.seq + 8;  // "ECHO a\r\n" is 8 bytes
    auto out = send(later, "ECHO b\r\n");
    // RFC 5681 §4.2: a duplicate ACK at once, naming the hole.
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    out = send(c, "ECHO a\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload, "+OK a\r\n+OK b\r\n");
    EXPECT_EQ(out[0].segment.ack, later.seq);
}

TEST_F(ReliabilityTest, Rfc9293_3_10_7_4_DuplicateSegmentAckedNotOfferedAgain) {
    Client c = connect(echo_port);
    Client copy = c;
    ASSERT_EQ(send(c, "ECHO once\r\n").size(), 1u);
    auto out = send(copy, "ECHO once\r\n");  // retransmitted by the client
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_TRUE(out[0].payload.empty());
    EXPECT_EQ(out[0].segment.ack, c.seq);
}

TEST_F(ReliabilityTest, Rfc9293_3_8_6_1_ZeroWindowRespectedAndProbed) {
    Client c = connect(echo_port);
    c.window = 0;
    auto out = send(c, "ECHO blocked\r\n");
    EXPECT_TRUE(out.empty());  // the reply waits behind the zero window
    out = advance_ms(40);
    ASSERT_EQ(out.size(), 1u);  // but the request is ACKed
    EXPECT_TRUE(out[0].payload.empty());
    EXPECT_EQ(out[0].segment.ack, c.seq);
    // Persist timer (RTO 200 ms after an RTT of 0): one octet of new data.
    out = advance_ms(160);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.seq, c.ack);
    EXPECT_EQ(out[0].payload, "+");
    // Still closed: the client does not take it; the next probe backs off.
    EXPECT_TRUE(acknowledge(c).empty());
    EXPECT_TRUE(advance_ms(399).empty());
    out = advance_ms(1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload, "+");
    // The window opens: the whole reply goes.
    c.window = 512;
    out = acknowledge(c);
    EXPECT_EQ(receive(c, out), "+OK blocked\r\n");
}

TEST_F(ReliabilityTest, Pop3RetrOfALargeMessageIsSentWhole) {
    Client c = connect(pop3_port);
    receive(c, send(c, "USER bob\r\n"));
    EXPECT_TRUE(send(c, "PASS secret\r\n").empty());
    apps::MaildropOpened opened;
    opened.outcome = apps::Outcome::ok;
    opened.maildrop = 1;
    std::string text;
    for (int i = 0; text.size() < 1'000'000; ++i) text += "line " + std::to_string(i) + " of a big message\r\n";
    opened.messages.push_back({text.size(), "uid1"});
    answer(std::move(opened));
    receive(c, out_.take());
    EXPECT_TRUE(send(c, "RETR 1\r\n").empty());
    // The store answers each piece the machine asks for, as the window drains.
    std::size_t reads = 0;
    auto serve_reads = [&] {
        while (!store_.calls.empty()) {
            auto* read = std::get_if<apps::ReadMessage>(&store_.calls.front().request);
            ASSERT_NE(read, nullptr);
            std::size_t n = std::min<std::size_t>(read->max_bytes, text.size() - read->offset);
            ++reads;
            answer(apps::MessageText{apps::Outcome::ok, text.substr(read->offset, n),
                                     read->offset + n == text.size()});
        }
    };
    serve_reads();
    std::string got = receive(c, out_.take());
    for (int round = 0; round < 10'000 && got.size() < text.size() + 20; ++round) {
        serve_reads();
        got += receive(c, acknowledge(c));
        advance_ms(1);
    }
    EXPECT_GE(reads, text.size() / (64 * 1024));
    std::string expected = "+OK " + std::to_string(text.size()) + " octets\r\n" + text + ".\r\n";
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected);
}

}  // namespace
}  // namespace bm::tcp::testing
