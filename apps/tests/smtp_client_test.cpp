// The SMTP sender driven by scripted server replies, split at every byte
// position: the exact commands it sends and each recipient's outcome.
#include "apps/smtp_client.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/tests/session_harness.hpp"

using namespace bm::apps;
using namespace bm::apps::testing;

namespace {

class RecordingReport : public RelayReport {
public:
    void on_relay_result(const std::vector<RecipientResult>& r) override {
        results = r;
        ++calls;
    }
    std::vector<RecipientResult> results;
    int calls = 0;
};

struct ClientRun {
    std::string sent;
    bool closed = false;
    std::vector<RecipientResult> results;
    int reports = 0;
};

OutboundMessage message(std::vector<std::string> rcpts, std::string content,
                        std::string sender = "alice@mx.example") {
    return OutboundMessage{std::move(sender), std::move(rcpts),
                           std::make_shared<const std::string>(std::move(content))};
}

// Plays `server` (all of the server's replies) into a fresh client in
// pieces of `step` octets; `after` may poke the client at the end.
ClientRun play(const OutboundMessage& m, const std::string& server, std::size_t step,
         void (*after)(SmtpClient&) = nullptr) {
    SmtpClientConfig config;
    config.hostname = "relay.example";
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    RecordingReport report;
    SmtpClient client(config, m, transport, observer, report);
    client.start();
    feed(client, transport, port, server, step, [](const StoreRequest&) { return StoreReply{}; });
    if (after) after(client);
    return ClientRun{transport.sent, transport.closed, report.results, report.calls};
}

// Every split of the server's bytes must give the same run.
ClientRun play_all_splits(const OutboundMessage& m, const std::string& server,
                    void (*after)(SmtpClient&) = nullptr) {
    ClientRun whole = play(m, server, server.size() ? server.size() : 1, after);
    for (std::size_t step = 1; step < server.size(); ++step) {
        ClientRun split = play(m, server, step, after);
        EXPECT_EQ(split.sent, whole.sent) << "step " << step;
        EXPECT_EQ(split.results.size(), whole.results.size()) << "step " << step;
    }
    return whole;
}

const std::string ehlo_ok =
    "250-mx.far.example hello\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 1000000\r\n"
    "250 8BITMIME\r\n";

}  // namespace

TEST(SmtpClient, DeliversToEveryAcceptedRecipientAndQuits) {
    auto m = message({"a@far.example", "b@far.example"}, "Subject: hi\r\n\r\nbody\r\n");
    ClientRun run = play_all_splits(m, "220 mx.far.example ESMTP\r\n" + ehlo_ok +
                                     "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n"
                                     "354 go\r\n250 2.0.0 queued as X\r\n221 bye\r\n");
    EXPECT_EQ(run.sent,
              "EHLO relay.example\r\n"
              "MAIL FROM:<alice@mx.example> SIZE=21\r\n"
              "RCPT TO:<a@far.example>\r\n"
              "RCPT TO:<b@far.example>\r\n"
              "DATA\r\n"
              "Subject: hi\r\n\r\nbody\r\n.\r\n"
              "QUIT\r\n");
    EXPECT_TRUE(run.closed);
    ASSERT_EQ(run.reports, 1);
    ASSERT_EQ(run.results.size(), 2u);
    for (const auto& r : run.results) {
        EXPECT_EQ(r.outcome, RelayOutcome::delivered);
        EXPECT_EQ(r.reply, "250 2.0.0 queued as X");
    }
}

TEST(SmtpClient, Rfc5321_4_5_2_DotStuffsLinesStartingWithADot) {
    auto m = message({"a@far.example"}, ".leading\r\nmid\r\n.\r\n..two\r\nno-crlf-at-end");
    ClientRun run = play(m, "220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n", 1000);
    EXPECT_NE(run.sent.find("DATA\r\n..leading\r\nmid\r\n..\r\n...two\r\nno-crlf-at-end\r\n.\r\nQUIT\r\n"),
              std::string::npos)
        << run.sent;
}

TEST(SmtpClient, EachRecipientKeepsItsOwnOutcome) {
    auto m = message({"gone@far.example", "busy@far.example", "ok@far.example"}, "x\r\n");
    ClientRun run = play_all_splits(m, "220 x\r\n" + ehlo_ok +
                                     "250 ok\r\n550 5.1.1 no such user\r\n451 4.3.0 try later\r\n"
                                     "250 ok\r\n354 go\r\n250 2.0.0 ok\r\n221 bye\r\n");
    ASSERT_EQ(run.results.size(), 3u);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::permanent);
    EXPECT_EQ(run.results[0].reply, "550 5.1.1 no such user");
    EXPECT_EQ(run.results[1].outcome, RelayOutcome::temporary);
    EXPECT_EQ(run.results[1].reply, "451 4.3.0 try later");
    EXPECT_EQ(run.results[2].outcome, RelayOutcome::delivered);
}

TEST(SmtpClient, Rfc5321_3_3_NoDataWithoutAnAcceptedRecipient) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play_all_splits(m, "220 x\r\n" + ehlo_ok + "250 ok\r\n550 5.7.1 relaying denied\r\n221 bye\r\n");
    EXPECT_EQ(run.sent.find("DATA"), std::string::npos);
    EXPECT_NE(run.sent.find("QUIT\r\n"), std::string::npos);
    ASSERT_EQ(run.results.size(), 1u);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::permanent);
    EXPECT_TRUE(run.closed);
}

TEST(SmtpClient, Rfc5321_3_2_FallsBackToHeloWhenEhloIsRefused) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play_all_splits(m, "220 old\r\n502 what\r\n250 old\r\n250 ok\r\n250 ok\r\n354 go\r\n"
                                 "250 ok\r\n221 bye\r\n");
    EXPECT_EQ(run.sent.rfind("EHLO relay.example\r\nHELO relay.example\r\nMAIL FROM:<alice@mx.example>\r\n", 0),
              0u);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::delivered);
}

TEST(SmtpClient, MultiLineGreetingIsOneReply) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play_all_splits(m, "220-first\r\n220-second\r\n220 last\r\n250 x\r\n250 ok\r\n250 ok\r\n"
                                 "354 go\r\n250 ok\r\n221 bye\r\n");
    EXPECT_EQ(run.sent.rfind("EHLO", 0), 0u);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::delivered);
}

TEST(SmtpClient, TemporaryMailFromRefusalDefersEveryone) {
    auto m = message({"a@far.example", "b@far.example"}, "x\r\n");
    ClientRun run = play_all_splits(m, "220 x\r\n250 x\r\n452 4.3.1 full\r\n221 bye\r\n");
    ASSERT_EQ(run.results.size(), 2u);
    for (const auto& r : run.results) {
        EXPECT_EQ(r.outcome, RelayOutcome::temporary);
        EXPECT_EQ(r.reply, "452 4.3.1 full");
    }
}

TEST(SmtpClient, PermanentMailFromRefusalFailsEveryone) {
    auto m = message({"a@far.example"}, "x\r\n", "");
    ClientRun run = play(m, "220 x\r\n250 x\r\n553 5.1.8 bad sender\r\n221 bye\r\n", 1);
    EXPECT_NE(run.sent.find("MAIL FROM:<>\r\n"), std::string::npos);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::permanent);
}

TEST(SmtpClient, Rfc5321_3_1_GreetingRefusalIsTemporaryAndQuits) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play_all_splits(m, "554 go away\r\n221 bye\r\n");
    EXPECT_EQ(run.sent, "QUIT\r\n");
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::temporary);
    EXPECT_EQ(run.results[0].reply, "554 go away");
    EXPECT_TRUE(run.closed);
}

TEST(SmtpClient, Rfc6_1_RefusalAfterTheDotIsPerRecipientFinal) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play_all_splits(m, "220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n354 go\r\n554 5.7.1 spam\r\n221 bye\r\n");
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::permanent);
    EXPECT_EQ(run.results[0].reply, "554 5.7.1 spam");
}

TEST(SmtpClient, DataRefusedIsTemporaryForAcceptedRecipients) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play(m, "220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n451 4.3.0 not now\r\n221 bye\r\n", 3);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::temporary);
}

TEST(SmtpClient, Rfc1870_DoesNotSendWhatTheServerAnnouncedItWouldRefuse) {
    auto m = message({"a@far.example"}, std::string(2000, 'x') + "\r\n");
    ClientRun run = play(m, "220 x\r\n250-x\r\n250 SIZE 1000\r\n221 bye\r\n", 5);
    EXPECT_EQ(run.sent.find("MAIL"), std::string::npos);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::permanent);
    EXPECT_EQ(run.results[0].reply.substr(0, 9), "552 5.3.4");
}

TEST(SmtpClient, Rfc6152_AnnouncesEightBitBodyOnlyWhenOffered) {
    auto m = message({"a@far.example"}, "caf\xc3\xa9\r\n");
    ClientRun with = play(m, "220 x\r\n" + ehlo_ok + "250 ok\r\n", 7);
    EXPECT_NE(with.sent.find("MAIL FROM:<alice@mx.example> SIZE=7 BODY=8BITMIME\r\n"), std::string::npos)
        << with.sent;
    ClientRun without = play(m, "220 x\r\n250 x\r\n250 ok\r\n", 7);
    EXPECT_NE(without.sent.find("MAIL FROM:<alice@mx.example>\r\n"), std::string::npos);
}

TEST(SmtpClient, ConnectionLostBeforeTheDotIsTemporary) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play(m, "220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n354 go\r\n", 4,
                   [](SmtpClient& c) { c.on_peer_closed(); });
    ASSERT_EQ(run.reports, 1);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::temporary);
    EXPECT_EQ(run.results[0].reply, "connection lost");
}

TEST(SmtpClient, DeliveredStaysDeliveredWhenTheConnectionDropsBeforeQuitReply) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play(m, "220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n", 2,
                   [](SmtpClient& c) { c.on_peer_closed(); });
    ASSERT_EQ(run.reports, 1);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::delivered);
}

TEST(SmtpClient, Rfc5321_4_5_3_2_ReplyTimeoutIsTemporaryAndCloses) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play(m, "220 x\r\n", 1, [](SmtpClient& c) { c.on_idle_timeout(); });
    EXPECT_TRUE(run.closed);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::temporary);
    EXPECT_NE(run.results[0].reply.find("timeout"), std::string::npos);
}

TEST(SmtpClient, ConnectFailureIsTemporaryWithTheReason) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play(m, "", 1, [](SmtpClient& c) { c.on_connect_failed("Connection refused"); });
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::temporary);
    EXPECT_EQ(run.results[0].reply, "cannot connect: Connection refused");
}

TEST(SmtpClient, MalformedRepliesEndTheSession) {
    for (std::string bad : std::vector<std::string>{"hello\r\n", "250-a\r\n251 b\r\n", "2500 x\r\n", "150 x\r\n",
                            std::string(3000, '2') + "\r\n"}) {
        auto m = message({"a@far.example"}, "x\r\n");
        ClientRun run = play(m, bad, 1);
        EXPECT_TRUE(run.closed) << bad;
        ASSERT_EQ(run.reports, 1) << bad;
        EXPECT_EQ(run.results[0].outcome, RelayOutcome::temporary) << bad;
    }
}

TEST(SmtpClient, ShutdownCutsTheSessionAndKeepsRecipientsPending) {
    auto m = message({"a@far.example"}, "x\r\n");
    ClientRun run = play(m, "220 x\r\n250 x\r\n", 1, [](SmtpClient& c) { c.on_shutdown(); });
    EXPECT_TRUE(run.closed);
    EXPECT_EQ(run.results[0].outcome, RelayOutcome::temporary);
}
