// Active open: RFC 9293 §3.10.1 OPEN (active), §3.10.7.3 SYN-SENT step by
// step, §3.5 simultaneous open, RFC 6298 §5 SYN retransmission (initial RTO
// 1 s, doubled), RFC 7323 §2.2 window scale only when both SYNs carried it.
// The session is a fake built by a fake ActiveOpenHandler: nothing here
// depends on the relay client.
#include "apps/ipv4_text.hpp"
#include "tcp/tests/harness.hpp"

namespace bm::tcp::testing {
namespace {

constexpr std::uint32_t next_hop_ip = 0x0a630009;  // 10.99.0.9
constexpr std::uint16_t next_hop_port = 25;
constexpr std::uint32_t peer_isn = 7000;

// What the fake session saw, kept outside it: the engine owns the session.
struct SessionLog {
    std::string first_words;  // sent from start(), if any
    std::string reply;        // sent after every on_bytes, if any
    std::string received;
    int started = 0;
    int peer_closed = 0;
};

class FakeSession final : public apps::Session {
public:
    FakeSession(SessionLog& log, apps::Transport& transport) : log_(log), transport_(transport) {}
    void start() override {
        ++log_.started;
        if (!log_.first_words.empty()) transport_.send(log_.first_words);
    }
    std::size_t on_bytes(std::string_view bytes) override {
        log_.received += bytes;
        if (!log_.reply.empty()) transport_.send(log_.reply);
        return bytes.size();
    }
    void on_store_reply(apps::StoreReply) override {}
    void on_idle_timeout() override { transport_.close(); }
    void on_shutdown() override { transport_.close(); }
    void on_peer_closed() override { ++log_.peer_closed; }
    bool waiting() const override { return false; }

private:
    SessionLog& log_;
    apps::Transport& transport_;
};

class FakeOpener final : public ActiveOpenHandler {
public:
    std::unique_ptr<apps::Session> on_established(const SessionHost& host) override {
        ++established;
        peer_ip = format_ipv4(host.peer.ip);
        return std::make_unique<FakeSession>(log, host.transport);
    }
    void on_failed(std::string_view reason) override { failures.emplace_back(reason); }

    SessionLog log;
    int established = 0;
    std::string peer_ip;
    std::vector<std::string> failures;
};

EngineConfig active_config() {
    EngineConfig config = test_config();
    config.local_ip = server_ip;
    return config;
}

class ActiveOpenTest : public EngineTest {
protected:
    void SetUp() override { start(active_config()); }

    // connect() and the SYN it sent; `peer` is set up to answer it.
    Sent open(Client& peer) {
        ConnectResult result = engine_->connect({next_hop_ip, next_hop_port}, opener_, now_);
        EXPECT_TRUE(result) << result.error;
        auto out = out_.take();
        EXPECT_EQ(out.size(), 1u);
        if (out.empty()) return {};
        peer.tuple = out[0].segment.tuple;
        peer.seq = peer_isn;
        peer.ack = out[0].segment.seq + 1;
        return out[0];
    }
    // The peer's SYN-ACK, with MSS 1400 and (if `scale`) window scale 7.
    std::vector<Sent> syn_ack(Client& peer, bool scale = true) {
        SegmentIn in = segment(peer, SYN | ACK);
        in.options.mss = 1400;
        if (scale) in.options.window_scale = 7;
        peer.seq = peer_isn + 1;
        return arrive(in);
    }

    FakeOpener opener_;
};

TEST_F(ActiveOpenTest, Rfc9293_3_10_1_SynCarriesMssWindowScaleAndTheTuplesIsn) {
    Client peer;
    Sent syn = open(peer);
    EXPECT_EQ(syn.segment.flags, SYN);
    EXPECT_EQ(syn.segment.tuple.local_ip, server_ip);
    EXPECT_EQ(syn.segment.tuple.remote_ip, next_hop_ip);
    EXPECT_EQ(syn.segment.tuple.remote_port, next_hop_port);
    EXPECT_GE(syn.segment.tuple.local_port, 49152);  // RFC 6335 §6 dynamic ports
    EXPECT_EQ(syn.segment.options.mss, 1460);
    EXPECT_EQ(syn.segment.options.window_scale, 7);
    EXPECT_EQ(syn.segment.window, 65408);  // never scaled; rounded to the scale unit
    EXPECT_TRUE(syn.payload.empty());
    EXPECT_EQ(engine_->open_connections(), 1u);
    EXPECT_EQ(engine_->counters().active_opens, 1u);

    // RFC 6528: with the same secret another engine picks the same port
    // and the same ISN; another destination gets another ISN.
    CapturingOutput out2;
    Engine other(active_config(), out2, store_, log_);
    FakeOpener opener2;
    ASSERT_TRUE(other.connect({next_hop_ip, next_hop_port}, opener2, now_));
    ASSERT_EQ(out2.segments.size(), 1u);
    EXPECT_EQ(out2.segments[0].segment.tuple, syn.segment.tuple);
    EXPECT_EQ(out2.segments[0].segment.seq, syn.segment.seq);
    ASSERT_TRUE(other.connect({next_hop_ip, 587}, opener2, now_));
    EXPECT_NE(out2.segments[1].segment.seq, syn.segment.seq);
}

TEST_F(ActiveOpenTest, Rfc9293_3_10_1_ConnectFailsAsAValueWhenNoTcbIsFree) {
    EngineConfig config = active_config();
    config.tcb_capacity = 1;
    start(config);
    EXPECT_TRUE(engine_->connect({next_hop_ip, next_hop_port}, opener_, now_));
    ConnectResult second = engine_->connect({next_hop_ip, next_hop_port}, opener_, now_);
    EXPECT_FALSE(second);
    EXPECT_EQ(second.error, "no free TCB");
    EXPECT_EQ(out_.take().size(), 1u);  // only the first SYN
}

TEST_F(ActiveOpenTest, Rfc9293_3_10_1_ConnectWithoutALocalAddressFails) {
    start(test_config());  // local_ip 0
    ConnectResult result = engine_->connect({next_hop_ip, next_hop_port}, opener_, now_);
    EXPECT_FALSE(result);
    EXPECT_EQ(result.error, "no local address");
    // One given with the request is used.
    EXPECT_TRUE(engine_->connect({next_hop_ip, next_hop_port, server_ip}, opener_, now_));
}

TEST_F(ActiveOpenTest, Rfc9293_3_10_7_3_FourthSynAckWithAcceptableAckEstablishesAcksAndStartsTheSession) {
    Client peer;
    Sent syn = open(peer);
    auto out = syn_ack(peer);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);  // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
    EXPECT_EQ(out[0].segment.seq, syn.segment.seq + 1);
    EXPECT_EQ(out[0].segment.ack, peer_isn + 1);
    EXPECT_EQ(out[0].segment.window, 65535 >> 7);  // scaled now: both SYNs carried the option
    EXPECT_EQ(opener_.established, 1);
    EXPECT_EQ(opener_.log.started, 1);
    EXPECT_EQ(opener_.peer_ip, "10.99.0.9");
    EXPECT_EQ(engine_->counters().connections_opened, 1u);

    // The server speaks first: its greeting reaches the session.
    out = send(peer, "220 mx.peer ESMTP\r\n");
    EXPECT_EQ(opener_.log.received, "220 mx.peer ESMTP\r\n");
    EXPECT_TRUE(out.empty());  // delayed ACK (RFC 1122 §4.2.3.2)
    out = advance_ms(config_.delayed_ack_ms);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.ack, peer.seq);
}

TEST_F(ActiveOpenTest, Rfc9293_3_10_7_3_FourthTheSessionsFirstBytesCarryTheAck) {
    opener_.log.first_words = "EHLO me\r\n";
    Client peer;
    Sent syn = open(peer);
    auto out = syn_ack(peer);
    ASSERT_EQ(out.size(), 1u);  // no separate pure ACK
    EXPECT_EQ(out[0].segment.flags, ACK | PSH);
    EXPECT_EQ(out[0].segment.seq, syn.segment.seq + 1);
    EXPECT_EQ(out[0].segment.ack, peer_isn + 1);
    EXPECT_EQ(out[0].payload, "EHLO me\r\n");
}

TEST_F(ActiveOpenTest, Rfc9293_3_10_7_3_FirstUnacceptableAckGetsRstAtSegAckAndStaysInSynSent) {
    Client peer;
    Sent syn = open(peer);
    // SEG.ACK > SND.NXT
    peer.ack = syn.segment.seq + 5;
    auto out = syn_ack(peer);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST);  // <SEQ=SEG.ACK><CTL=RST>
    EXPECT_EQ(out[0].segment.seq, syn.segment.seq + 5);
    // SEG.ACK =< ISS
    peer.ack = syn.segment.seq;
    out = syn_ack(peer);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST);
    EXPECT_EQ(out[0].segment.seq, syn.segment.seq);
    // "unless the RST bit is set": a RST is never answered.
    peer.ack = syn.segment.seq + 5;
    EXPECT_TRUE(arrive(segment(peer, RST | ACK)).empty());
    EXPECT_EQ(opener_.established, 0);
    EXPECT_TRUE(opener_.failures.empty());
    // Still SYN-SENT: the right SYN-ACK completes the open.
    peer.ack = syn.segment.seq + 1;
    peer.seq = peer_isn;
    out = syn_ack(peer);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(opener_.established, 1);
}

TEST_F(ActiveOpenTest, Rfc9293_3_10_7_3_SecondRstWithAcceptableAckIsConnectionRefused) {
    Client peer;
    open(peer);
    EXPECT_TRUE(arrive(segment(peer, RST | ACK)).empty());
    ASSERT_EQ(opener_.failures.size(), 1u);
    EXPECT_EQ(opener_.failures[0], "connection refused");
    EXPECT_EQ(opener_.established, 0);
    EXPECT_EQ(engine_->open_connections(), 0u);
    EXPECT_EQ(engine_->counters().active_open_failures, 1u);
    // The TCB is gone: a late SYN-ACK meets a closed port.
    auto out = syn_ack(peer);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST);
}

TEST_F(ActiveOpenTest, Rfc9293_3_10_7_3_SecondRstWithoutAckIsIgnored) {
    Client peer;
    open(peer);
    EXPECT_TRUE(arrive(segment(peer, RST)).empty());
    EXPECT_TRUE(opener_.failures.empty());
    EXPECT_EQ(engine_->open_connections(), 1u);
    EXPECT_EQ(syn_ack(peer).size(), 1u);
    EXPECT_EQ(opener_.established, 1);
}

TEST_F(ActiveOpenTest, Rfc9293_3_10_7_3_FifthNeitherSynNorRstIsDropped) {
    Client peer;
    open(peer);
    EXPECT_TRUE(arrive(segment(peer, ACK, "early")).empty());
    EXPECT_EQ(opener_.established, 0);
    EXPECT_EQ(engine_->open_connections(), 1u);
    EXPECT_EQ(syn_ack(peer).size(), 1u);
    EXPECT_EQ(opener_.established, 1);
}

TEST_F(ActiveOpenTest, Rfc6298_5_SynRetransmittedAfterOneSecondThenTwoThenGivenUp) {
    EngineConfig config = active_config();
    config.syn_retries = 2;
    start(config);
    Client peer;
    Sent syn = open(peer);
    EXPECT_TRUE(advance_ms(999).empty());
    auto again = advance_ms(1);  // (2.1) initial RTO 1 s
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].segment.flags, SYN);
    EXPECT_EQ(again[0].segment.seq, syn.segment.seq);
    EXPECT_EQ(again[0].segment.options.mss, 1460);
    EXPECT_TRUE(advance_ms(1999).empty());
    EXPECT_EQ(advance_ms(1).size(), 1u);  // (5.5) doubled
    EXPECT_TRUE(advance_ms(3999).empty());
    EXPECT_TRUE(opener_.failures.empty());
    EXPECT_TRUE(advance_ms(1).empty());  // no RST from SYN-SENT: nothing to reset
    ASSERT_EQ(opener_.failures.size(), 1u);
    EXPECT_EQ(opener_.failures[0], "connection timed out");
    EXPECT_EQ(engine_->open_connections(), 0u);
    EXPECT_EQ(engine_->counters().retransmits, 2u);
}

TEST_F(ActiveOpenTest, Rfc9293_3_5_SimultaneousOpenSynWithoutAckGoesToSynReceived) {
    Client peer;
    Sent syn = open(peer);
    SegmentIn their_syn = segment(peer, SYN);
    their_syn.options.mss = 1400;
    their_syn.options.window_scale = 7;
    auto out = arrive(their_syn);
    ASSERT_EQ(out.size(), 1u);  // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>
    EXPECT_EQ(out[0].segment.flags, SYN | ACK);
    EXPECT_EQ(out[0].segment.seq, syn.segment.seq);
    EXPECT_EQ(out[0].segment.ack, peer_isn + 1);
    EXPECT_EQ(out[0].segment.options.window_scale, 7);
    EXPECT_EQ(opener_.established, 0);
    // The peer's ACK of our SYN: ESTABLISHED, the session starts.
    peer.seq = peer_isn + 1;
    out = acknowledge(peer);
    EXPECT_EQ(opener_.established, 1);
    EXPECT_EQ(opener_.log.started, 1);
    send(peer, "220 hi\r\n");
    EXPECT_EQ(opener_.log.received, "220 hi\r\n");
}

TEST_F(ActiveOpenTest, Rfc9293_3_10_7_4_RstInSynReceivedAfterSimultaneousOpenIsRefused) {
    Client peer;
    open(peer);
    arrive(segment(peer, SYN));
    peer.seq = peer_isn + 1;
    EXPECT_TRUE(arrive(segment(peer, RST)).empty());
    ASSERT_EQ(opener_.failures.size(), 1u);
    EXPECT_EQ(opener_.failures[0], "connection refused");
    EXPECT_EQ(engine_->open_connections(), 0u);
}

TEST_F(ActiveOpenTest, Rfc9293_3_9_DataFlowsBothWaysAfterTheActiveOpen) {
    opener_.log.reply = "EHLO me\r\n";
    Client peer;
    open(peer);
    syn_ack(peer);
    auto out = send(peer, "220 mx.peer ESMTP\r\n");
    ASSERT_EQ(out.size(), 1u);  // the reply carries the ACK
    EXPECT_EQ(out[0].segment.flags, ACK | PSH);
    EXPECT_EQ(out[0].segment.ack, peer.seq);
    EXPECT_EQ(receive(peer, out), "EHLO me\r\n");
    out = send(peer, "250 mx.peer\r\n");
    EXPECT_EQ(receive(peer, out), "EHLO me\r\n");
    EXPECT_EQ(opener_.log.received, "220 mx.peer ESMTP\r\n250 mx.peer\r\n");
    EXPECT_TRUE(acknowledge(peer).empty());
    // The peer closes: the session is told and our FIN follows.
    out = send(peer, "", ACK | FIN);
    EXPECT_EQ(opener_.log.peer_closed, 1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | FIN);
    EXPECT_EQ(out[0].segment.ack, peer.seq);
}

TEST_F(ActiveOpenTest, Rfc7323_2_2_WindowScaleOnlyWhenBothSynsCarriedIt) {
    std::string big(1000, 'x');
    big += "\r\n";
    // Both SYNs: our windows are scaled by 7, theirs by 7.
    {
        opener_.log.reply = big;
        Client peer;
        open(peer);
        syn_ack(peer, true);
        peer.window = 2;  // 256 bytes
        auto out = send(peer, "go\r\n");
        ASSERT_GE(out.size(), 1u);
        EXPECT_EQ(out[0].payload.size(), 256u);
        EXPECT_EQ(out[0].segment.window, 65535 >> 7);  // in units of 128
    }
    // Their SYN-ACK without the option: no scaling either way.
    start(active_config());
    opener_ = FakeOpener{};
    opener_.log.reply = big;
    Client peer;
    open(peer);
    auto out = syn_ack(peer, false);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.window, 65535);
    peer.window = 2;  // 2 bytes
    out = send(peer, "go\r\n");
    ASSERT_GE(out.size(), 1u);
    EXPECT_EQ(out[0].payload.size(), 2u);
    EXPECT_EQ(out[0].segment.window, 65535 - 4);  // unscaled; the right edge holds (SWS avoidance)
}

TEST_F(ActiveOpenTest, Rfc9293_3_10_5_ShutdownEndsSynSentWithoutRstAndReportsIt) {
    Client peer;
    open(peer);
    engine_->shutdown(now_);
    EXPECT_TRUE(out_.take().empty());
    ASSERT_EQ(opener_.failures.size(), 1u);
    EXPECT_EQ(opener_.failures[0], "shutdown");
    EXPECT_EQ(engine_->open_connections(), 0u);
    EXPECT_FALSE(engine_->connect({next_hop_ip, next_hop_port}, opener_, now_));
}

}  // namespace
}  // namespace bm::tcp::testing
