// Closing: RFC 9293 §3.6 both ways, TIME-WAIT (§3.10.7.4 2*MSL), idle
// timeouts and SIGTERM shutdown (SPEC), and the log lines of the kernel build.
#include "tcp/tests/harness.hpp"

namespace bm::tcp::testing {
namespace {

using CloseTest = EngineTest;

TEST_F(CloseTest, Rfc9293_3_6_QuitReplyCarriesOurFinThenClientFinIsAckedAndTimeWaitExpires) {
    Client c = connect(echo_port);
    auto out = send(c, "QUIT\r\n");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | PSH | FIN);  // reply, ACK and FIN on one segment
    EXPECT_EQ(out[0].payload, "+OK Goodbye!\r\n");
    receive(c, out);
    // The client ACKs our FIN and sends its own.
    EXPECT_TRUE(acknowledge(c).empty());  // FIN-WAIT-2
    out = send(c, "", ACK | FIN);
    ASSERT_EQ(out.size(), 1u);  // TIME-WAIT: the FIN is ACKed at once
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    EXPECT_EQ(engine_->open_connections(), 0u);  // TIME-WAIT is not open
    // A retransmitted FIN is ACKed again.
    Client again = c;
    again.seq = c.seq - 1;
    out = arrive(segment(again, ACK | FIN));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.ack, c.seq);
    // 2*MSL later the TCB is gone: the tuple gets resets again.
    advance_ms(config_.time_wait_ms);
    out = send(c, "x");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST);
    EXPECT_EQ(engine_->counters().connections_closed, 1u);
}

TEST_F(CloseTest, Rfc1122_4_2_2_13_NewSynWithHigherSequenceReopensATimeWaitTuple) {
    Client c = connect(echo_port);
    receive(c, send(c, "QUIT\r\n"));
    acknowledge(c);
    send(c, "", ACK | FIN);  // TIME-WAIT now
    Client again;
    again.tuple = c.tuple;
    again.seq = c.seq + 100'000;
    auto out = arrive(segment(again, SYN));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, SYN | ACK);
    EXPECT_EQ(out[0].segment.ack, again.seq + 1);
}

TEST_F(CloseTest, Rfc9293_3_10_7_4_OldSynInTimeWaitGetsOnlyAnAck) {
    Client c = connect(echo_port);
    receive(c, send(c, "QUIT\r\n"));
    acknowledge(c);
    send(c, "", ACK | FIN);
    Client old;
    old.tuple = c.tuple;
    old.seq = client_isn;  // the first connection's SYN, duplicated in the network
    auto out = arrive(segment(old, SYN));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, c.seq);
}

TEST_F(CloseTest, OldestTimeWaitIsReusedWhenThePoolIsFull) {
    EngineConfig config = test_config();
    config.tcb_capacity = 2;
    start(config);
    Client a = connect(echo_port, 40000);
    receive(a, send(a, "QUIT\r\n"));
    acknowledge(a);
    send(a, "", ACK | FIN);  // a: TIME-WAIT
    Client b = connect(echo_port, 40001);
    std::string greeting;
    connect(echo_port, 40002, &greeting);  // needs a's slot
    EXPECT_EQ(greeting, "+OK Server ready (baremail)\r\n");
    EXPECT_EQ(engine_->counters().syn_cookies_sent, 0u);
    EXPECT_EQ(engine_->open_connections(), 2u);
    EXPECT_EQ(receive(b, send(b, "ECHO b\r\n")), "+OK b\r\n");
}

TEST_F(CloseTest, Rfc9293_3_6_ClientFinFirstAckedWithOurFinOnOneSegment) {
    Client c = connect(echo_port);
    auto out = send(c, "", ACK | FIN);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | FIN);  // CLOSE-WAIT -> LAST-ACK at once
    EXPECT_EQ(out[0].segment.ack, c.seq);
    receive(c, out);
    EXPECT_TRUE(acknowledge(c).empty());  // LAST-ACK -> CLOSED
    EXPECT_EQ(engine_->open_connections(), 0u);
    EXPECT_EQ(log_.events.back(), "echo 10.99.0.1:40000 disconnect closed by peer");
}

TEST_F(CloseTest, Rfc9293_3_6_CommandAndFinInOneSegmentAnsweredBeforeClosing) {
    Client c = connect(echo_port);
    auto out = send(c, "ECHO last words\r\n", ACK | PSH | FIN);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | PSH | FIN);
    EXPECT_EQ(out[0].payload, "+OK last words\r\n");
    EXPECT_EQ(out[0].segment.ack, c.seq);
}

TEST_F(CloseTest, HalfCloseWhileDeliverPendingStill250sThenCloses) {
    Client c = connect(smtp_port);
    receive(c, send(c, "HELO client.test\r\n"));
    receive(c, send(c, "MAIL FROM:<alice@client.test>\r\n"));
    send(c, "RCPT TO:<bob@mx.test>\r\n");
    answer(apps::UserFound{apps::Outcome::ok, "bob"});
    receive(c, out_.take());
    receive(c, send(c, "DATA\r\n"));
    EXPECT_TRUE(send(c, "hi\r\n.\r\nQUIT\r\n", ACK | PSH | FIN).size() <= 1u);
    answer(apps::Delivered{apps::Outcome::ok, ""});
    auto out = out_.take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload, "250 OK\r\n221 mx.test closing connection\r\n");
    EXPECT_TRUE(out[0].segment.flags & FIN);
}

TEST_F(CloseTest, IdleTimeoutSendsTheMachinesLineAndCloses) {
    connect(echo_port);
    auto out = advance_ms(std::uint64_t(config_.idle_timeout_s[2]) * 1000);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload, "-ERR Timeout\r\n");
    EXPECT_TRUE(out[0].segment.flags & FIN);
    EXPECT_NE(std::find(log_.events.begin(), log_.events.end(), "echo 10.99.0.1:40000 timeout idle"),
              log_.events.end());
}

TEST_F(CloseTest, ActivityPushesTheIdleTimeoutBack) {
    Client c = connect(echo_port);
    advance_ms(200'000);
    receive(c, send(c, "ECHO still here\r\n"));
    EXPECT_TRUE(acknowledge(c).empty());
    EXPECT_TRUE(advance_ms(200'000).empty());
    EXPECT_EQ(advance_ms(100'000).size(), 1u);
}

TEST_F(CloseTest, SpecShutdownSends421ToSmtpAndErrToOthers) {
    Client smtp = connect(smtp_port, 40000);
    connect(pop3_port, 40001);
    engine_->shutdown(now_);
    auto out = out_.take();
    ASSERT_EQ(out.size(), 2u);
    for (const Sent& s : out) {
        EXPECT_TRUE(s.segment.flags & FIN);
        if (s.segment.tuple == smtp.tuple) EXPECT_EQ(s.payload, "421 mx.test shutting down\r\n");
        else EXPECT_EQ(s.payload, "-ERR Server shutting down\r\n");
    }
    // New connections are refused like a closed port.
    Client late;
    late.tuple = tuple_for(smtp_port, 40002);
    late.seq = client_isn;
    out = arrive(segment(late, SYN));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST | ACK);
}

// Shutdown waits only for sessions: a half-open TCB is aborted at once
// (RFC 9293 §3.10.5 ABORT in SYN-RECEIVED: <SEQ=SND.NXT><CTL=RST>, with the
// ACK of the peer's SYN so a peer still in SYN-SENT accepts it too,
// §3.10.7.3), and the established session says 421 and closes.
TEST_F(CloseTest, Rfc9293_3_10_5_ShutdownAbortsSynReceivedAndClosesEstablishedWith421) {
    Client smtp = connect(smtp_port, 40000);
    Client half;
    half.tuple = tuple_for(smtp_port, 40001);
    half.seq = client_isn;
    auto synack = arrive(segment(half, SYN));
    ASSERT_EQ(synack.size(), 1u);
    EXPECT_EQ(engine_->open_connections(), 2u);

    engine_->shutdown(now_);
    auto out = out_.take();
    ASSERT_EQ(out.size(), 2u);
    const Sent* reset = out[0].segment.tuple == half.tuple ? &out[0] : &out[1];
    const Sent* goodbye = out[0].segment.tuple == half.tuple ? &out[1] : &out[0];
    EXPECT_EQ(reset->segment.flags, RST | ACK);
    EXPECT_EQ(reset->segment.seq, synack[0].segment.seq + 1);  // SND.NXT
    EXPECT_EQ(reset->segment.ack, client_isn + 1);             // RCV.NXT
    EXPECT_TRUE(reset->payload.empty());
    EXPECT_EQ(goodbye->payload, "421 mx.test shutting down\r\n");
    EXPECT_EQ(goodbye->segment.flags, ACK | PSH | FIN);
    EXPECT_EQ(engine_->open_connections(), 1u);  // the half-open one is gone at once

    // The half-open peer's late ACK finds no TCB and no listener.
    half.seq = client_isn + 1;
    half.ack = synack[0].segment.seq + 1;
    out = arrive(segment(half, ACK));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST);
    EXPECT_EQ(engine_->open_connections(), 1u);

    // The established client takes the 421 and FIN, and closes its side.
    receive(smtp, {*goodbye});
    EXPECT_TRUE(send(smtp, "", ACK | FIN).size() == 1u);  // our ACK of its FIN
    EXPECT_EQ(engine_->open_connections(), 0u);
}

// A connection refused over --max-conn never had a session: shutdown does
// not wait for its refusal line to drain either.
TEST_F(CloseTest, Rfc9293_3_10_5_ShutdownAbortsARefusedConnectionThatNeverHadASession) {
    EngineConfig config = test_config();
    config.max_conn_per_service = 1;
    start(config);
    Client first = connect(echo_port, 40000);
    Client refused;
    refused.tuple = tuple_for(echo_port, 40001);
    refused.seq = client_isn;
    auto synack = arrive(segment(refused, SYN));
    refused.seq = client_isn + 1;
    refused.ack = synack[0].segment.seq + 1;
    refused.window = 0;  // the refusal line cannot leave
    EXPECT_TRUE(arrive(segment(refused, ACK)).empty());
    EXPECT_EQ(engine_->open_connections(), 2u);
    engine_->shutdown(now_);
    auto out = out_.take();
    ASSERT_EQ(out.size(), 2u);
    for (const Sent& s : out) {
        if (s.segment.tuple == refused.tuple) {
            EXPECT_EQ(s.segment.flags, RST);  // synchronized: <SEQ=SND.NXT><CTL=RST>
            EXPECT_EQ(s.segment.seq, refused.ack);
        } else {
            EXPECT_EQ(s.payload, "-ERR Server shutting down\r\n");
        }
    }
    EXPECT_EQ(engine_->open_connections(), 1u);
    (void)first;
}

// New SYNs after shutdown: RFC 9293 §3.10.7.1, as for a closed port.
TEST_F(CloseTest, Rfc9293_3_10_7_1_SynAfterShutdownIsReset) {
    engine_->shutdown(now_);
    Client late;
    late.tuple = tuple_for(pop3_port, 40002);
    late.seq = client_isn;
    auto out = arrive(segment(late, SYN));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, RST | ACK);
    EXPECT_EQ(out[0].segment.ack, client_isn + 1);
    EXPECT_EQ(engine_->open_connections(), 0u);
}

TEST_F(CloseTest, SpecShutdownWithDeliverPendingAnswersTheStoreFirst) {
    Client c = connect(smtp_port);
    receive(c, send(c, "HELO client.test\r\n"));
    receive(c, send(c, "MAIL FROM:<alice@client.test>\r\n"));
    send(c, "RCPT TO:<bob@mx.test>\r\n");
    answer(apps::UserFound{apps::Outcome::ok, "bob"});
    receive(c, out_.take());
    receive(c, send(c, "DATA\r\n"));
    send(c, "hi\r\n.\r\n");
    engine_->shutdown(now_);
    EXPECT_TRUE(out_.take().empty());
    answer(apps::Delivered{apps::Outcome::ok, ""});
    auto out = out_.take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload, "250 OK\r\n421 mx.test shutting down\r\n");
}

TEST_F(CloseTest, EventsAndDebugLinesMirrorTheKernelBuild) {
    Client c = connect(echo_port);
    receive(c, send(c, "QUIT\r\n"));
    acknowledge(c);
    std::vector<std::string> lines = {"[1] New connection", "[1] S: +OK Server ready (baremail)", "[1] C: QUIT",
                                      "[1] S: +OK Goodbye!", "[1] Connection closed"};
    EXPECT_EQ(log_.lines, lines);
    std::vector<std::string> events = {"echo 10.99.0.1:40000 connect ", "echo 10.99.0.1:40000 disconnect closed"};
    EXPECT_EQ(log_.events, events);
}

TEST_F(CloseTest, LateStoreReplyForAReusedSlotIsDropped) {
    Client c = connect(smtp_port);
    receive(c, send(c, "HELO client.test\r\n"));
    receive(c, send(c, "MAIL FROM:<alice@client.test>\r\n"));
    send(c, "RCPT TO:<bob@mx.test>\r\n");
    ASSERT_EQ(store_.calls.size(), 1u);
    std::uint64_t stale = store_.calls[0].token;
    arrive(segment(c, RST));  // the client is gone
    Client next = connect(smtp_port, 40001);  // same slot, next generation
    EXPECT_FALSE(engine_->on_store_reply(stale, apps::UserFound{apps::Outcome::ok, "bob"}, now_));
    EXPECT_TRUE(out_.take().empty());
    EXPECT_EQ(receive(next, send(next, "NOOP\r\n")), "250 OK\r\n");
}

// MailBackend: a reply the engine does not take is the backend's to undo
// (an opened maildrop must be unlocked), so the engine says which it was.
TEST_F(CloseTest, StoreReplyTakenByALiveSessionReturnsTrue) {
    Client c = connect(smtp_port);
    receive(c, send(c, "HELO client.test\r\n"));
    receive(c, send(c, "MAIL FROM:<alice@client.test>\r\n"));
    send(c, "RCPT TO:<bob@mx.test>\r\n");
    ASSERT_EQ(store_.calls.size(), 1u);
    EXPECT_TRUE(engine_->on_store_reply(store_.calls[0].token, apps::UserFound{apps::Outcome::ok, "bob"}, now_));
    EXPECT_EQ(receive(c, out_.take()), "250 OK\r\n");
}

TEST_F(CloseTest, StoreReplyForAClosedConnectionReturnsFalseAndLeavesTheReplyToUndo) {
    Client c = connect(pop3_port);
    receive(c, send(c, "USER bob\r\n"));
    send(c, "PASS secret\r\n");
    ASSERT_EQ(store_.calls.size(), 1u);
    std::uint64_t token = store_.calls[0].token;
    arrive(segment(c, RST));  // gone while the maildrop was being opened
    EXPECT_EQ(engine_->open_connections(), 0u);
    apps::StoreReply reply = apps::MaildropOpened{apps::Outcome::ok, 7, {{10, "uid1"}}};
    EXPECT_FALSE(engine_->on_store_reply(token, std::move(reply), now_));
    auto* opened = std::get_if<apps::MaildropOpened>(&reply);
    ASSERT_NE(opened, nullptr);  // not consumed: MailBackend closes maildrop 7
    EXPECT_EQ(opened->maildrop, 7u);
    EXPECT_EQ(opened->messages.size(), 1u);
}

TEST_F(CloseTest, StoreReplyWithATokenOutsideTheTableReturnsFalse) {
    EXPECT_FALSE(engine_->on_store_reply(~std::uint64_t(0), apps::MaildropClosed{}, now_));
}

}  // namespace
}  // namespace bm::tcp::testing
