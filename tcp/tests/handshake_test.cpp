// Opening connections: RFC 9293 §3.5 three-way handshake, §3.10.7.1 resets
// for closed ports, RFC 7323 §2 options, RFC 6528 ISNs, RFC 4987 SYN cookies,
// and the --max-conn refusal.
#include "tcp/tests/harness.hpp"

namespace bm::tcp::testing {
namespace {

using HandshakeTest = EngineTest;

TEST_F(HandshakeTest, Rfc9293_3_5_ThreeWayHandshakeWithMssAndWindowScale) {
    Client c;
    c.tuple = tuple_for(echo_port);
    c.seq = client_isn;
    SegmentIn syn = segment(c, SYN);
    syn.options.mss = 1400;
    syn.options.window_scale = 7;
    auto out = arrive(syn);
    ASSERT_EQ(out.size(), 1u);
    const SegmentOut synack = out[0].segment;
    EXPECT_EQ(synack.flags, SYN | ACK);
    EXPECT_EQ(synack.ack, client_isn + 1);
    EXPECT_EQ(synack.tuple, c.tuple);
    EXPECT_EQ(synack.options.mss, 1460);
    EXPECT_EQ(synack.options.window_scale, 7);  // RFC 7323 §2.2: offered back
    EXPECT_EQ(synack.window, 65408);  // never scaled; 65535 rounded to the scale unit
    EXPECT_TRUE(out[0].payload.empty());

    // The final ACK: ESTABLISHED, and the server speaks first.
    c.seq = client_isn + 1;
    c.ack = synack.seq + 1;
    c.window = 512;  // 65536 after the client's shift of 7
    out = arrive(segment(c, ACK));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | PSH);
    EXPECT_EQ(out[0].segment.seq, synack.seq + 1);
    EXPECT_EQ(out[0].segment.ack, client_isn + 1);
    EXPECT_EQ(out[0].segment.window, 65535 >> 7);  // scaled by our shift
    EXPECT_EQ(out[0].payload, "+OK Server ready (baremail)\r\n");
    EXPECT_EQ(engine_->open_connections(), 1u);
    EXPECT_EQ(engine_->counters().connections_opened, 1u);
}

TEST_F(HandshakeTest, Rfc7323_2_2_NoWindowScaleOptionUnlessTheSynCarriedIt) {
    Client c;
    c.tuple = tuple_for(echo_port);
    c.seq = client_isn;
    auto out = arrive(segment(c, SYN));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.options.window_scale, -1);
    c.seq = client_isn + 1;
    c.ack = out[0].segment.seq + 1;
    out = arrive(segment(c, ACK));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.window, 65535);  // unscaled
}

TEST_F(HandshakeTest, Rfc9293_3_7_1_WithoutMssOptionSegmentsStayWithin536) {
    Client c;
    c.tuple = tuple_for(echo_port);
    c.seq = client_isn;
    auto out = arrive(segment(c, SYN));
    c.seq = client_isn + 1;
    c.ack = out[0].segment.seq + 1;
    arrive(segment(c, ACK));
    c.ack += 29;  // the greeting
    std::string request;
    for (int i = 0; i < 3; ++i) request += "ECHO " + std::string(300, 'a' + i) + "\r\n";
    out = send(c, request);
    ASSERT_GE(out.size(), 2u);
    for (const Sent& s : out) EXPECT_LE(s.payload.size(), 536u);
}

// Echoes a line over a new connection whose SYN announced `mss` and
// returns the payload sizes of the reply's segments (986 octets in all).
class MssTest : public EngineTest {
protected:
    std::vector<std::size_t> echo_over(std::uint16_t mss) {
        Client c;
        c.tuple = tuple_for(echo_port, next_port_++);
        c.seq = client_isn;
        SegmentIn syn = segment(c, SYN);
        syn.options.mss = mss;
        auto out = arrive(syn);
        EXPECT_EQ(out.size(), 1u);
        c.seq = client_isn + 1;
        c.ack = out[0].segment.seq + 1;
        receive(c, arrive(segment(c, ACK)));  // the greeting
        std::vector<std::size_t> sizes;
        out = send(c, "ECHO " + std::string(980, 'x') + "\r\n");
        // Let the client ACK until the whole reply is out.
        std::size_t total = 0;
        for (int round = 0; round < 20 && total < 986; ++round) {
            for (const Sent& s : out) {
                if (s.segment.seq != c.ack || s.payload.empty()) continue;
                sizes.push_back(s.payload.size());
                total += s.payload.size();
                c.ack += std::uint32_t(s.payload.size());
            }
            out = acknowledge(c);
        }
        EXPECT_EQ(total, 986u);
        return sizes;
    }
    std::uint16_t next_port_ = 40000;
};

// CVE-2019-11479: a peer announcing MSS 1 must not make us send 1-octet
// segments; the value is raised to 536 (RFC 9293 §3.7.1, RFC 1122 §3.3.2).
TEST_F(MssTest, Rfc9293_3_7_1_AnnouncedMssBelow536IsRaisedTo536) {
    for (std::uint16_t tiny : {1, 48, 535}) {
        auto sizes = echo_over(tiny);
        ASSERT_FALSE(sizes.empty());
        EXPECT_EQ(sizes[0], 536u) << "announced " << tiny;
        for (std::size_t n : sizes) EXPECT_LE(n, 536u);
        EXPECT_EQ(sizes.size(), 2u) << "announced " << tiny;  // 536 + 450
    }
}

TEST_F(MssTest, Rfc9293_3_7_1_AnnouncedMssAboveTheFloorIsKept) {
    auto sizes = echo_over(700);
    ASSERT_EQ(sizes.size(), 2u);
    EXPECT_EQ(sizes[0], 700u);
    EXPECT_EQ(sizes[1], 286u);
}

TEST_F(MssTest, MinMssOptionLowersTheFloor) {
    EngineConfig config = test_config();
    config.min_mss = 200;
    start(config);
    auto sizes = echo_over(100);
    ASSERT_FALSE(sizes.empty());
    EXPECT_EQ(sizes[0], 200u);
    for (std::size_t n : sizes) EXPECT_LE(n, 200u);
}

TEST_F(MssTest, TheFloorNeverExceedsOurOwnMss) {
    EngineConfig config = test_config();
    config.mss = 400;
    start(config);
    auto sizes = echo_over(1);
    ASSERT_FALSE(sizes.empty());
    EXPECT_EQ(sizes[0], 400u);
}

TEST_F(HandshakeTest, Rfc9293_3_10_7_1_SynToClosedPortGetsRstAck) {
    Client c;
    c.tuple = tuple_for(9);
    c.seq = 777;
    auto out = arrive(segment(c, SYN));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST | ACK);
    EXPECT_EQ(out[0].segment.seq, 0u);
    EXPECT_EQ(out[0].segment.ack, 778u);  // SEG.SEQ + SEG.LEN, the SYN counts
    EXPECT_EQ(engine_->counters().resets_out, 1u);
}

TEST_F(HandshakeTest, Rfc9293_3_10_7_1_AckWithoutTcbGetsRstAtItsAckNumber) {
    Client c;
    c.tuple = tuple_for(9);
    c.seq = 777;
    c.ack = 4242;
    auto out = arrive(segment(c, ACK, "hello"));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST);
    EXPECT_EQ(out[0].segment.seq, 4242u);
    // And a RST is never answered.
    EXPECT_TRUE(arrive(segment(c, RST)).empty());
}

TEST_F(HandshakeTest, Rfc9293_3_10_7_2_AckToListenerGetsRst) {
    Client c;
    c.tuple = tuple_for(echo_port);
    c.ack = 99;
    auto out = arrive(segment(c, ACK));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST);
    EXPECT_EQ(out[0].segment.seq, 99u);
}

TEST_F(HandshakeTest, Rfc9293_3_10_7_4_BadAckInSynReceivedGetsRst) {
    Client c;
    c.tuple = tuple_for(echo_port);
    c.seq = client_isn;
    auto out = arrive(segment(c, SYN));
    c.seq = client_isn + 1;
    c.ack = out[0].segment.seq + 5;  // acknowledges what was never sent
    out = arrive(segment(c, ACK));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST);
    EXPECT_EQ(out[0].segment.seq, c.ack);
}

TEST_F(HandshakeTest, Rfc6298_SynAckRetransmittedAfterOneSecondThenTwo) {
    Client c;
    c.tuple = tuple_for(echo_port);
    c.seq = client_isn;
    auto first = arrive(segment(c, SYN));
    EXPECT_TRUE(advance_ms(999).empty());
    auto again = advance_ms(1);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].segment.flags, SYN | ACK);
    EXPECT_EQ(again[0].segment.seq, first[0].segment.seq);
    EXPECT_TRUE(advance_ms(1999).empty());
    EXPECT_EQ(advance_ms(1).size(), 1u);
}

TEST_F(HandshakeTest, Rfc6528_FixedIsnIsAPureFunctionOfTheTuple) {
    Client c;
    c.tuple = tuple_for(echo_port);
    c.seq = client_isn;
    std::uint32_t first = arrive(segment(c, SYN))[0].segment.seq;
    // A second engine, much later, same secret: the same ISN (pcap replay).
    CapturingOutput out2;
    Engine other(test_config(), out2, store_, log_);
    SegmentIn syn = segment(c, SYN);
    other.on_segment(syn, now_ + 123'456'789);
    ASSERT_EQ(out2.segments.size(), 1u);
    EXPECT_EQ(out2.segments[0].segment.seq, first);
    // Another tuple, another ISN.
    c.tuple.remote_port = 40001;
    EXPECT_NE(arrive(segment(c, SYN))[0].segment.seq, first);
}

TEST_F(HandshakeTest, Rfc6528_IsnAdvancesWithTheClockWithoutFixedIsn) {
    EngineConfig config = test_config();
    config.fixed_isn = false;
    start(config);
    Client c;
    c.tuple = tuple_for(echo_port);
    c.seq = client_isn;
    std::uint32_t first = arrive(segment(c, SYN))[0].segment.seq;
    CapturingOutput out2;
    Engine other(config, out2, store_, log_);
    other.on_segment(segment(c, SYN), now_ + 4000);  // 4 ms later: M moved by 1000
    EXPECT_EQ(out2.segments[0].segment.seq, first + 1000);
}

TEST_F(HandshakeTest, Rfc4987_3_6_SynCookiesWhenBacklogIsFullAndTheAckCompletesTheConnection) {
    EngineConfig config = test_config();
    config.syn_backlog = 1;
    start(config);
    Client first;
    first.tuple = tuple_for(echo_port, 40000);
    first.seq = client_isn;
    auto out = arrive(segment(first, SYN));
    EXPECT_EQ(engine_->counters().syn_cookies_sent, 0u);

    Client c;
    c.tuple = tuple_for(echo_port, 40001);
    c.seq = 5000;
    SegmentIn syn = segment(c, SYN);
    syn.options.mss = 1460;
    syn.options.window_scale = 7;
    out = arrive(syn);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, SYN | ACK);
    EXPECT_EQ(out[0].segment.options.window_scale, -1);  // the cookie cannot carry it
    EXPECT_EQ(engine_->counters().syn_cookies_sent, 1u);
    EXPECT_EQ(engine_->open_connections(), 1u);  // no state kept for it

    // A forged ACK is refused...
    Client forged = c;
    forged.seq = 5001;
    forged.ack = out[0].segment.seq + 2;
    auto rst = arrive(segment(forged, ACK));
    ASSERT_EQ(rst.size(), 1u);
    EXPECT_EQ(rst[0].segment.flags, RST);
    // ...the real one completes the handshake: the greeting comes back.
    c.seq = 5001;
    c.ack = out[0].segment.seq + 1;
    out = arrive(segment(c, ACK));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload, "+OK Server ready (baremail)\r\n");
    EXPECT_EQ(out[0].segment.window, 65535);  // no scaling in effect
    EXPECT_EQ(engine_->counters().syn_cookies_accepted, 1u);
    // And it works as any connection.
    c.ack += std::uint32_t(out[0].payload.size());
    out = send(c, "ECHO cookie\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload, "+OK cookie\r\n");
}

TEST_F(HandshakeTest, SpecMaxConn_NextClientGetsTheRefusalLineThenFin) {
    EngineConfig config = test_config();
    config.max_conn_per_service = 1;
    start(config);
    Client first = connect(pop3_port, 40000);
    Client second;
    second.tuple = tuple_for(pop3_port, 40001);
    second.seq = client_isn;
    auto out = arrive(segment(second, SYN));
    second.seq = client_isn + 1;
    second.ack = out[0].segment.seq + 1;
    out = arrive(segment(second, ACK));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | PSH | FIN);
    EXPECT_EQ(out[0].payload, "-ERR [SYS/TEMP] Too many connections\r\n");
    EXPECT_EQ(engine_->counters().refused_max_conn, 1u);
    // The first client is unaffected.
    first.window = 512;
    out = send(first, "CAPA\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload.substr(0, 3), "+OK");
}

TEST_F(HandshakeTest, SpecMaxConn_SmtpRefusalIs421) {
    EngineConfig config = test_config();
    config.max_conn_per_service = 0;
    start(config);
    std::string greeting;
    connect(smtp_port, 40000, &greeting);
    EXPECT_EQ(greeting, "421 4.7.0 mx.test Error: too many connections\r\n");
}

}  // namespace
}  // namespace bm::tcp::testing
