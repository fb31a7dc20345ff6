// The SMTP sender driven by scripted server replies, split at every byte
// position: the exact commands it sends and each recipient's outcome.
#include "apps/smtp_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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

// A queued message: the envelope the client gets, and the text the fake
// store serves piece by piece.
struct Queued {
    OutboundMessage envelope;
    std::string text;
};

Queued message(std::vector<std::string> rcpts, std::string content,
               std::string sender = "alice@mx.example") {
    bool eight_bit = std::any_of(content.begin(), content.end(),
                                 [](char c) { return static_cast<unsigned char>(c) > 127; });
    OutboundMessage envelope{std::move(sender), std::move(rcpts), "Q1", content.size(), eight_bit};
    return Queued{std::move(envelope), std::move(content)};
}

// The store's answer to ReadQueued: at most `cap` octets of the text per
// piece (whatever the client asked for), or `fail_at` once a piece would
// start at or past that offset.
StoreAnswer serve(const std::string& text, std::size_t cap = std::size_t(-1),
                  std::size_t fail_at = std::size_t(-1)) {
    return [&text, cap, fail_at](const StoreRequest& request) -> StoreReply {
        const auto& read = std::get<ReadQueued>(request);
        EXPECT_EQ(read.queue_name, "Q1");
        EXPECT_GT(read.max_bytes, 0u);
        EXPECT_LE(read.max_bytes, 64u * 1024);
        if (read.offset >= fail_at) return QueuedText{Outcome::temp_failure, {}, false};
        std::size_t offset = std::min<std::size_t>(read.offset, text.size());
        std::string piece = text.substr(offset, std::min<std::size_t>(read.max_bytes, cap));
        bool end = offset + piece.size() >= text.size();
        return QueuedText{Outcome::ok, std::move(piece), end};
    };
}

// Plays `server` (all of the server's replies) into a fresh client in
// pieces of `step` octets, the text served in pieces of at most `cap`;
// `after` may poke the client at the end.
ClientRun play(const Queued& m, const std::string& server, std::size_t step,
               void (*after)(SmtpClient&) = nullptr, std::size_t cap = std::size_t(-1)) {
    SmtpClientConfig config;
    config.hostname = "relay.example";
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    RecordingReport report;
    SmtpClient client(config, m.envelope, transport, port, observer, report);
    client.start();
    feed(client, transport, port, server, step, serve(m.text, cap));
    if (after) after(client);
    return ClientRun{transport.sent, transport.closed, report.results, report.calls};
}

// Every split of the server's bytes must give the same run.
ClientRun play_all_splits(const Queued& m, const std::string& server,
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

// ---- DATA streamed from the queue -------------------------------------------------

namespace {

const std::string to_data = "220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n354 go\r\n";

// A client past RCPT, with its transport and store in the test's hands.
struct Streaming {
    explicit Streaming(const Queued& m) : client(config, m.envelope, transport, port, observer, report) {}
    SmtpClientConfig config;
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    RecordingReport report;
    SmtpClient client;

    void reply(const std::string& bytes) { EXPECT_EQ(client.on_bytes(bytes), bytes.size()); }
    // Answers the one outstanding ReadQueued.
    void answer(const StoreAnswer& store) {
        ASSERT_EQ(port.requests.size(), 1u);
        StoreRequest request = std::move(port.requests.front());
        port.requests.pop_front();
        client.on_store_reply(store(request));
    }
};

}  // namespace

TEST(SmtpClient, Rfc5321_4_5_2_PiecesOfEverySizeGiveTheSameBytesOnTheWire) {
    // Dots at line starts cut from their CRLF, a CR cut from its LF, a bare
    // LF (not a line end), and no CRLF at the end.
    const std::string text = ".a\r\n..b\r\nc\r\n.\r\nd.\r\n\r\n.e\n.f\r\r\n.g";
    const std::string wire = "DATA\r\n..a\r\n...b\r\nc\r\n..\r\nd.\r\n\r\n..e\n.f\r\r\n..g\r\n.\r\nQUIT\r\n";
    auto m = message({"a@far.example"}, text);
    for (std::size_t cap = 1; cap <= text.size() + 1; ++cap) {
        ClientRun run = play(m, to_data + "250 ok\r\n221 bye\r\n", 1000, nullptr, cap);
        EXPECT_NE(run.sent.find(wire), std::string::npos) << "pieces of " << cap << ": " << run.sent;
        ASSERT_EQ(run.results.size(), 1u);
        EXPECT_EQ(run.results[0].outcome, RelayOutcome::delivered);
    }
}

TEST(SmtpClient, TextEndingWithCrlfGetsNoExtraLineAndEmptyTextOnlyTheDot) {
    for (std::size_t cap : {1u, 2u, 3u, 100u}) {
        auto m = message({"a@far.example"}, "x\r\n.\r\n");
        ClientRun run = play(m, to_data + "250 ok\r\n221 bye\r\n", 1000, nullptr, cap);
        EXPECT_NE(run.sent.find("DATA\r\nx\r\n..\r\n.\r\nQUIT"), std::string::npos) << run.sent;
    }
    auto empty = message({"a@far.example"}, "");
    ClientRun run = play(empty, to_data + "250 ok\r\n221 bye\r\n", 1000);
    EXPECT_NE(run.sent.find("DATA\r\n.\r\nQUIT"), std::string::npos) << run.sent;
}

TEST(SmtpClient, AsksForPiecesOnlyWhileTheTransportHasRoom) {
    const std::string text = std::string(200 * 1024 - 2, 'x') + "\r\n";
    auto m = message({"a@far.example"}, text);
    Streaming s(m);
    s.transport.room = 1000;  // below the smallest piece worth a read
    s.reply(to_data);
    EXPECT_TRUE(s.port.requests.empty());
    std::size_t before = s.transport.sent.size();

    s.transport.room = 1 << 20;  // drained: the biggest piece is asked for
    s.client.on_writable();
    ASSERT_EQ(s.port.requests.size(), 1u);
    EXPECT_EQ(std::get<ReadQueued>(s.port.requests.front()).offset, 0u);
    EXPECT_EQ(std::get<ReadQueued>(s.port.requests.front()).max_bytes, 64u * 1024);
    s.transport.room = 0;  // the piece fills the queue
    s.answer(serve(text));
    EXPECT_EQ(s.transport.sent.size() - before, 64u * 1024);
    EXPECT_TRUE(s.port.requests.empty());
    s.transport.room = 8 * 1024;
    s.client.on_writable();
    ASSERT_EQ(s.port.requests.size(), 1u);
    EXPECT_EQ(std::get<ReadQueued>(s.port.requests.front()).offset, 64u * 1024);
    EXPECT_EQ(std::get<ReadQueued>(s.port.requests.front()).max_bytes, 8u * 1024);
    s.client.on_writable();
    EXPECT_EQ(s.port.requests.size(), 1u);  // one read at a time

    s.transport.room = std::size_t(-1);
    while (!s.port.requests.empty()) s.answer(serve(text));
    EXPECT_EQ(s.transport.sent.substr(before), text + ".\r\n");
    s.reply("250 ok\r\n");
    ASSERT_EQ(s.report.calls, 1);
    EXPECT_EQ(s.report.results[0].outcome, RelayOutcome::delivered);
}

TEST(SmtpClient, ReadFailureMidDataCutsTheConnectionWithoutTheDot) {
    const std::string text = std::string(100, 'x') + "\r\n" + std::string(100, 'y') + "\r\n";
    auto m = message({"a@far.example"}, text);
    Streaming s(m);
    s.reply(to_data);
    s.answer(serve(text, 50));
    s.answer(serve(text, 50, 50));  // the second piece cannot be read
    EXPECT_TRUE(s.port.requests.empty());
    EXPECT_TRUE(s.transport.closed);
    EXPECT_TRUE(s.transport.sent.ends_with("DATA\r\n" + text.substr(0, 50))) << s.transport.sent;
    EXPECT_EQ(s.transport.sent.find("QUIT"), std::string::npos);
    ASSERT_EQ(s.report.calls, 1);
    EXPECT_EQ(s.report.results[0].outcome, RelayOutcome::temporary);
    EXPECT_NE(s.report.results[0].reply.find("cannot read"), std::string::npos);
}

TEST(SmtpClient, RepliesWaitUntilTheFinalDotIsOut) {
    const std::string text = std::string(100, 'x') + "\r\n";
    auto m = message({"a@far.example"}, text);
    Streaming s(m);
    s.reply(to_data);
    EXPECT_EQ(s.client.on_bytes("250 ok\r\n"), 0u);  // offered again later
    EXPECT_EQ(s.report.calls, 0);
    s.answer(serve(text));
    EXPECT_TRUE(s.transport.sent.ends_with(text + ".\r\n"));
    s.reply("250 ok\r\n");
    ASSERT_EQ(s.report.calls, 1);
    EXPECT_EQ(s.report.results[0].outcome, RelayOutcome::delivered);
    EXPECT_TRUE(s.transport.sent.ends_with("QUIT\r\n"));
}
