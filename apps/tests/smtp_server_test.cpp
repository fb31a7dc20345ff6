// The SMTP receiver driven by whole transcripts, split at every byte
// position, checking the exact reply text and what reaches the store.
#include "apps/smtp_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "apps/header_fill.hpp"
#include "apps/ipv4_text.hpp"
#include "apps/tests/session_harness.hpp"

using namespace bm::apps;
using namespace bm::apps::testing;

namespace {

constexpr std::time_t fixed_time = 1700000000;
const std::string fixed_date = "Tue, 14 Nov 2023 22:13:20 +0000";
std::time_t fixed_clock() { return fixed_time; }

const std::string greeting = "220 mx.example ESMTP baremail\r\n";
const std::string ehlo_reply =
    "250-mx.example\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 10485760\r\n"
    "250-8BITMIME\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250 HELP\r\n";

struct Scenario {
    SmtpConfig config;
    Peer peer;
    Outcome deliver_outcome = Outcome::ok;
    // How the fake store answers the chunks after the first `spool_ok_chunks`.
    Outcome spool_outcome = Outcome::ok;
    std::size_t spool_ok_chunks = 0;
    // Called when the fake store receives a Deliver, before it answers.
    std::function<void(SmtpServer&)> while_delivering;

    Scenario() {
        config.hostname = "mx.example";
        config.local_domains = {"mx.example", "localhost"};
        config.instance_tag = "t";
        config.now = fixed_clock;
        peer.ip = *bm::parse_ipv4("10.99.0.7");
        peer.port = 40000;
        peer.local_ip = *bm::parse_ipv4("10.99.0.2");
        peer.connection = 42;  // 2a
    }
};

struct SessionRun {
    std::string sent;
    bool closed = false;
    std::vector<Deliver> delivered;
    std::vector<std::string> stored;  // head + spooled octets + message, per delivery
    // The fake store's spools: the octets of those not yet used or dropped.
    std::map<std::uint64_t, std::string> spools;
    std::uint64_t spools_made = 0;
    std::size_t chunks = 0, drops = 0;
    std::vector<std::string> lookups;
    std::vector<std::string> commands, replies, events;
};

// The fake store's spool: chunks are kept by spool id, answered as told.
StoreReply spool(const Scenario& scenario, SessionRun& run, const SpoolChunk& chunk) {
    if (++run.chunks > scenario.spool_ok_chunks && scenario.spool_outcome != Outcome::ok)
        return Spooled{scenario.spool_outcome, chunk.spool};
    std::uint64_t id = chunk.spool;
    if (id == 0) {
        id = ++run.spools_made;
        run.spools[id];
    }
    EXPECT_TRUE(run.spools.count(id)) << "chunk for an unknown spool";
    run.spools[id] += chunk.bytes;
    return Spooled{Outcome::ok, id};
}

// The fake store: alice, bob and postmaster exist; "tempfail" makes the
// lookup fail temporarily; deliveries are captured and answered as told.
StoreReply answer(const Scenario& scenario, SmtpServer& session, SessionRun& run,
                  const StoreRequest& request) {
    if (const auto* lookup = std::get_if<LookupUser>(&request)) {
        run.lookups.push_back(lookup->local_part);
        std::string name = lookup->local_part;
        std::transform(name.begin(), name.end(), name.begin(),
                       [](char c) { return static_cast<char>(std::tolower(c)); });
        if (name == "tempfail") return UserFound{Outcome::temp_failure, {}};
        if (name == "alice" || name == "bob" || name == "postmaster")
            return UserFound{Outcome::ok, name};
        return UserFound{Outcome::not_found, {}};
    }
    if (const auto* chunk = std::get_if<SpoolChunk>(&request)) return spool(scenario, run, *chunk);
    if (const auto* drop = std::get_if<DropSpool>(&request)) {
        ++run.drops;
        EXPECT_EQ(run.spools.erase(drop->spool), 1u) << "drop of an unknown spool";
        return SpoolDropped{};
    }
    if (const auto* deliver = std::get_if<Deliver>(&request)) {
        std::string spooled;
        if (deliver->spool != 0) {
            EXPECT_TRUE(run.spools.count(deliver->spool)) << "delivery from an unknown spool";
            spooled = run.spools[deliver->spool];
            run.spools.erase(deliver->spool);
        }
        run.delivered.push_back(*deliver);
        run.stored.push_back(deliver->head + spooled + deliver->message);
        if (scenario.while_delivering) scenario.while_delivering(session);
        return Delivered{scenario.deliver_outcome, {}};
    }
    ADD_FAILURE() << "unexpected store request";
    return Delivered{};
}

SessionRun run_once(const Scenario& scenario, std::string_view input, std::size_t step) {
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    SmtpServer session(scenario.config, scenario.peer, transport, port, observer);
    SessionRun run;
    session.start();
    feed(session, transport, port, input, step,
         [&](const StoreRequest& request) { return answer(scenario, session, run, request); });
    run.sent = transport.sent;
    run.closed = transport.closed;
    run.commands = observer.commands;
    run.replies = observer.replies;
    run.events = observer.events;
    return run;
}

bool same_deliveries(const SessionRun& run_a, const SessionRun& run_b) {
    const std::vector<Deliver>& a = run_a.delivered;
    const std::vector<Deliver>& b = run_b.delivered;
    if (a.size() != b.size() || run_a.stored != run_b.stored) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const Deliver& x = a[i];
        const Deliver& y = b[i];
        if (x.queue_id != y.queue_id ||
            x.envelope.sender != y.envelope.sender ||
            x.envelope.recipients.size() != y.envelope.recipients.size())
            return false;
        for (std::size_t r = 0; r < x.envelope.recipients.size(); ++r)
            if (x.envelope.recipients[r].address != y.envelope.recipients[r].address ||
                x.envelope.recipients[r].mailbox != y.envelope.recipients[r].mailbox)
                return false;
    }
    return true;
}

// Replays `input` split at every byte position (steps 1..size) and expects
// the same exact replies and the same stored messages each time. Returns
// the run with the input in one piece, for further checks.
SessionRun expect_transcript(const Scenario& scenario, std::string_view input,
                      const std::string& expected, std::vector<std::size_t> steps = {}) {
    if (steps.empty())
        for (std::size_t step = 1; step <= input.size(); ++step) steps.push_back(step);
    SessionRun whole = run_once(scenario, input, std::max<std::size_t>(input.size(), 1));
    EXPECT_EQ(whole.sent, expected) << "input in one piece";
    EXPECT_TRUE(whole.spools.empty()) << "a spool was neither delivered nor dropped";
    for (std::size_t step : steps) {
        SessionRun split = run_once(scenario, input, step);
        if (split.sent != expected || !same_deliveries(split, whole) ||
            split.closed != whole.closed || !split.spools.empty()) {
            ADD_FAILURE() << "split every " << step << " bytes gives:\n" << split.sent;
            break;
        }
    }
    return whole;
}

std::string received(const std::string& id, const std::string& for_rcpt, bool esmtp = true) {
    std::string out = "Received: from client.example ([10.99.0.7])\r\n"
                      "\tby mx.example (baremail) with ";
    out += esmtp ? "ESMTP" : "SMTP";
    out += " id " + id;
    if (!for_rcpt.empty()) out += "\r\n\tfor <" + for_rcpt + ">";
    out += "; " + fixed_date + "\r\n";
    return out;
}

std::string filled(const std::string& id, const std::string& for_rcpt, bool esmtp = true) {
    return received(id, for_rcpt, esmtp) + "Date: " + fixed_date + "\r\nMessage-ID: <" + id +
           "@mx.example>\r\n";
}

const std::string plain_message = "Subject: hi\r\n\r\nhello\r\n";

}  // namespace

// ---- whole sessions ---------------------------------------------------------

TEST(SmtpServer, EhloSessionWithTwoMessages) {
    Scenario scenario;
    std::string input =
        "EHLO client.example\r\n"
        "MAIL FROM:<sender@remote.example>\r\n"
        "RCPT TO:<alice@mx.example>\r\n"
        "DATA\r\n" + plain_message + ".\r\n"
        "MAIL FROM:<> BODY=8BITMIME\r\n"
        "RCPT TO:<Bob@MX.example>\r\n"
        "RCPT TO:<alice@localhost>\r\n"
        "DATA\r\n"
        "Subject: two\r\n\r\nsecond\r\n.\r\n"
        "QUIT\r\n";
    SessionRun run = expect_transcript(scenario, input,
                                greeting + ehlo_reply +
                                    "250 2.1.0 Ok\r\n"
                                    "250 2.1.5 Ok\r\n"
                                    "354 End data with <CR><LF>.<CR><LF>\r\n"
                                    "250 2.0.0 Ok: queued as t.2a.1\r\n"
                                    "250 2.1.0 Ok\r\n"
                                    "250 2.1.5 Ok\r\n"
                                    "250 2.1.5 Ok\r\n"
                                    "354 End data with <CR><LF>.<CR><LF>\r\n"
                                    "250 2.0.0 Ok: queued as t.2a.2\r\n"
                                    "221 2.0.0 Bye\r\n");
    EXPECT_TRUE(run.closed);
    ASSERT_EQ(run.delivered.size(), 2u);
    const Deliver& first = run.delivered[0];
    EXPECT_EQ(first.queue_id, "t.2a.1");
    EXPECT_EQ(first.envelope.sender, "sender@remote.example");
    ASSERT_EQ(first.envelope.recipients.size(), 1u);
    EXPECT_EQ(first.envelope.recipients[0].address, "alice@mx.example");
    EXPECT_EQ(first.envelope.recipients[0].mailbox, "alice");
    EXPECT_EQ(run.stored[0], filled("t.2a.1", "alice@mx.example") + plain_message);

    const Deliver& second = run.delivered[1];
    EXPECT_EQ(second.envelope.sender, "");
    ASSERT_EQ(second.envelope.recipients.size(), 2u);
    EXPECT_EQ(second.envelope.recipients[0].address, "Bob@mx.example");
    EXPECT_EQ(second.envelope.recipients[0].mailbox, "bob");
    EXPECT_EQ(second.envelope.recipients[1].address, "alice@localhost");
    EXPECT_EQ(run.stored[1], filled("t.2a.2", "") + "Subject: two\r\n\r\nsecond\r\n");
    EXPECT_EQ(run.lookups, (std::vector<std::string>{"alice", "Bob", "alice"}));
}

TEST(SmtpServer, PipelinedTransactionInOneWriteAnswersInOrder) {
    Scenario scenario;
    std::string input =
        "ehlo client.example\r\nmail from:<a@remote.example>\r\nrcpt to:<alice@mx.example>\r\n"
        "rcpt to:<nobody@mx.example>\r\nrcpt to:<bob@mx.example>\r\ndata\r\nx\r\n.\r\nquit\r\n";
    SessionRun run = expect_transcript(scenario, input,
                                greeting + ehlo_reply +
                                    "250 2.1.0 Ok\r\n"
                                    "250 2.1.5 Ok\r\n"
                                    "550 5.1.1 <nobody@mx.example>: Recipient address rejected: "
                                    "User unknown\r\n"
                                    "250 2.1.5 Ok\r\n"
                                    "354 End data with <CR><LF>.<CR><LF>\r\n"
                                    "250 2.0.0 Ok: queued as t.2a.1\r\n"
                                    "221 2.0.0 Bye\r\n");
    ASSERT_EQ(run.delivered.size(), 1u);
    EXPECT_EQ(run.delivered[0].envelope.recipients.size(), 2u);
}

TEST(SmtpServer, HeloSessionGetsPlainReplies) {
    Scenario scenario;
    std::string input =
        "HELO client.example\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@mx.example>\r\n"
        "DATA\r\n" + plain_message + ".\r\nRSET\r\nNOOP\r\nVRFY alice\r\nRCPT TO:<x@y.example>\r\n"
        "FOO\r\nQUIT\r\n";
    SessionRun run = expect_transcript(scenario, input,
                                greeting +
                                    "250 mx.example\r\n"
                                    "250 OK\r\n"
                                    "250 OK\r\n"
                                    "354 End data with <CR><LF>.<CR><LF>\r\n"
                                    "250 OK\r\n"
                                    "250 OK\r\n"
                                    "250 OK\r\n"
                                    "252 Cannot VRFY user, but will accept message and attempt "
                                    "delivery\r\n"
                                    "503 Error: need MAIL command\r\n"
                                    "500 Error: command not recognized\r\n"
                                    "221 mx.example closing connection\r\n");
    ASSERT_EQ(run.delivered.size(), 1u);
    EXPECT_EQ(run.stored[0], filled("t.2a.1", "alice@mx.example", false) + plain_message);
}

TEST(SmtpServer, RepliesBeforeAnyGreetingArePlain) {
    Scenario scenario;
    expect_transcript(scenario, "NOOP\r\nMAIL FROM:<a@b.example>\r\nHELP\r\n",
                      greeting + "250 OK\r\n503 Error: send HELO/EHLO first\r\n"
                                 "214 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\r\n");
}

// ---- DATA transparency and smuggling (RFC 5321 §4.5.2, §2.3.8) --------------

TEST(SmtpServer, DotStuffingIsRemoved) {
    Scenario scenario;
    scenario.config.header_fill = false;
    std::string input =
        "EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n"
        "..x\r\n.\r\n";
    SessionRun run = expect_transcript(scenario, input,
                                greeting + ehlo_reply +
                                    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                                    "354 End data with <CR><LF>.<CR><LF>\r\n"
                                    "250 2.0.0 Ok: queued as t.2a.1\r\n");
    ASSERT_EQ(run.delivered.size(), 1u);
    EXPECT_EQ(run.stored[0], ".x\r\n");
    // What followed the end was read as commands again.
    EXPECT_EQ(run.commands.size(), 4u);
}

TEST(SmtpServer, DotStuffedLinesInsideTheBody) {
    Scenario scenario;
    scenario.config.header_fill = false;
    std::string input =
        "EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n"
        "first\r\n..\r\n...\r\n.x\r\nlast.\r\n.\r\nNOOP\r\n";
    SessionRun run = expect_transcript(scenario, input,
                                greeting + ehlo_reply +
                                    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                                    "354 End data with <CR><LF>.<CR><LF>\r\n"
                                    "250 2.0.0 Ok: queued as t.2a.1\r\n"
                                    "250 2.0.0 Ok\r\n");
    ASSERT_EQ(run.delivered.size(), 1u);
    EXPECT_EQ(run.stored[0], "first\r\n.\r\n..\r\nx\r\nlast.\r\n");
}

TEST(SmtpServer, EmptyMessageEndsAtFirstLineDot) {
    Scenario scenario;
    scenario.config.header_fill = false;
    SessionRun run = expect_transcript(
        scenario, "HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n.\r\n",
        greeting + "250 mx.example\r\n250 OK\r\n250 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
                   "250 OK\r\n");
    ASSERT_EQ(run.delivered.size(), 1u);
    EXPECT_EQ(run.stored[0], "");
}

TEST(SmtpServer, BodyLinesHaveNoLengthLimit) {
    Scenario scenario;
    scenario.config.header_fill = false;
    std::string line(5000, 'x');
    SessionRun run = expect_transcript(
        scenario,
        "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n" + line +
            "\r\n.\r\n",
        greeting + ehlo_reply +
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
            "250 2.0.0 Ok: queued as t.2a.1\r\n",
        {1, 2, 3, 7, 100, 999, 1000, 1001, 4096});
    ASSERT_EQ(run.delivered.size(), 1u);
    EXPECT_EQ(run.stored[0], line + "\r\n");
}

namespace {

const std::string smuggling_refused =
    "554 5.5.2 Error: bare <CR> or <LF> in message (RFC 5321 section 2.3.8)\r\n";

std::string smuggling_session(const std::string& body) {
    return "EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\n"
           "DATA\r\n" + body + "\r\n.\r\nNOOP\r\n";
}

std::string smuggling_replies() {
    return greeting + ehlo_reply +
           "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n" +
           smuggling_refused + "250 2.0.0 Ok\r\n";
}

}  // namespace

TEST(SmtpServer, SmugglingLfDotLfDoesNotEndDataAndIsRefused) {
    Scenario scenario;
    SessionRun run = expect_transcript(
        scenario,
        smuggling_session("hi\n.\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<bob@localhost>\r\n"
                          "DATA\r\nforged"),
        smuggling_replies());
    EXPECT_TRUE(run.delivered.empty());
    EXPECT_EQ(run.lookups.size(), 1u);  // the smuggled RCPT was never a command
    EXPECT_EQ(run.events.back(), "rejected from=<a@b.example> reason=bare CR or LF in message");
}

TEST(SmtpServer, SmugglingCrDotCrDoesNotEndDataAndIsRefused) {
    Scenario scenario;
    SessionRun run = expect_transcript(scenario, smuggling_session("hi\r.\rMAIL FROM:<evil@x.example>"),
                                smuggling_replies());
    EXPECT_TRUE(run.delivered.empty());
}

TEST(SmtpServer, SmugglingCrlfDotLfDoesNotEndData) {
    Scenario scenario;
    SessionRun run = expect_transcript(scenario, smuggling_session("hi\r\n.\nQUIT\r\nx"),
                                smuggling_replies());
    EXPECT_TRUE(run.delivered.empty());
    EXPECT_FALSE(run.closed);
}

TEST(SmtpServer, SmugglingLfDotCrlfDoesNotEndData) {
    Scenario scenario;
    SessionRun run = expect_transcript(scenario, smuggling_session("hi\n.\r\nQUIT\r\nx"),
                                smuggling_replies());
    EXPECT_TRUE(run.delivered.empty());
    EXPECT_FALSE(run.closed);
}

TEST(SmtpServer, BareLfInsideALineRefusesTheMessage) {
    Scenario scenario;
    SessionRun run = expect_transcript(scenario, smuggling_session("Subject: a\nb"), smuggling_replies());
    EXPECT_TRUE(run.delivered.empty());
}

TEST(SmtpServer, BareCrInsideALineRefusesTheMessage) {
    Scenario scenario;
    SessionRun run = expect_transcript(scenario, smuggling_session("Subject: a\rb"), smuggling_replies());
    EXPECT_TRUE(run.delivered.empty());
}

TEST(SmtpServer, DotCrWithoutLfRefusesTheMessage) {
    Scenario scenario;
    SessionRun run = expect_transcript(scenario, smuggling_session("a\r\n.\rb"), smuggling_replies());
    EXPECT_TRUE(run.delivered.empty());
}

// Body octets read where they lie go in pieces of the line buffer's size
// (4000): a stuffed dot, a CR of a CRLF and the final dot fall on every
// position around that boundary and around a segment's.
TEST(SmtpServer, DotsAndCrlfAtSpanBoundaries) {
    Scenario scenario;
    scenario.config.header_fill = false;
    std::string head = "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n";
    for (std::size_t length = 3990; length < 4010; ++length) {
        std::string text = std::string(length, 'w') + "\r\n.\r\n..\r\nz\r\n";
        std::string input = head + std::string(length, 'w') + "\r\n..\r\n...\r\nz\r\n.\r\nNOOP\r\n";
        SessionRun run = expect_transcript(
            scenario, input,
            greeting + ehlo_reply +
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
                "250 2.0.0 Ok: queued as t.2a.1\r\n250 2.0.0 Ok\r\n",
            {1, 2, 3, 1460, 3999, 4000, 4001, 4000 + head.size(), 3999 + head.size(),
             4001 + head.size(), 4002 + head.size(), length + head.size(), length + head.size() + 1,
             length + head.size() + 2, length + head.size() + 3});
        ASSERT_EQ(run.stored.size(), 1u);
        EXPECT_EQ(run.stored[0], text) << "length " << length;
    }
}

// ---- size limit (RFC 1870) ------------------------------------------------------

TEST(SmtpServer, DeclaredSizeOverLimitIsRefusedAtMail) {
    Scenario scenario;
    scenario.config.max_message_size = 100;
    expect_transcript(scenario,
                      "EHLO c\r\nMAIL FROM:<a@b.example> SIZE=101\r\nMAIL FROM:<a@b.example> "
                      "SIZE=100\r\n",
                      greeting +
                          "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 100\r\n250-8BITMIME\r\n"
                          "250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n"
                          "552 5.3.4 Message size exceeds fixed limit\r\n"
                          "250 2.1.0 Ok\r\n");
}

namespace {

// A session up to DATA under a size limit, and the replies it gets.
const std::string size_session_head =
    "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n";

std::string size_session_replies(std::uint64_t limit) {
    return greeting + "250-mx.example\r\n250-PIPELINING\r\n250-SIZE " + std::to_string(limit) +
           "\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n"
           "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n";
}

}  // namespace

TEST(SmtpServer, ActualSizeOverLimitIsRefusedAfterTheEnd) {
    Scenario scenario;
    scenario.config.max_message_size = 20;
    scenario.config.header_fill = false;
    const std::string& head = size_session_head;
    const std::string start = size_session_replies(20);
    // 20 octets exactly (after un-stuffing) fit; 21 do not.
    SessionRun fits = expect_transcript(scenario, head + "123456789012345678\r\n.\r\n",
                                 start + "250 2.0.0 Ok: queued as t.2a.1\r\n");
    ASSERT_EQ(fits.delivered.size(), 1u);
    EXPECT_EQ(fits.stored[0].size(), 20u);
    SessionRun too_big = expect_transcript(
        scenario, head + "1234567890123456789\r\n" + std::string(3000, 'z') + "\r\n.\r\nNOOP\r\n",
        start + "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n");
    EXPECT_TRUE(too_big.delivered.empty());
}

// The limit falls inside one span of body octets, or exactly at its end.
TEST(SmtpServer, SizeLimitCrossedInsideALongSpan) {
    Scenario scenario;
    scenario.config.max_message_size = 5000;
    scenario.config.header_fill = false;
    const std::string& head = size_session_head;
    const std::string start = size_session_replies(5000);
    std::string line = std::string(98, 'q') + "\r\n";
    std::string exact;
    while (exact.size() < 5000) exact += line;
    ASSERT_EQ(exact.size(), 5000u);
    const std::vector<std::size_t> steps = {1, 2, 3, 99, 100, 101, 1460, 3999, 4000, 4001, 5005};
    SessionRun fits = expect_transcript(scenario, head + exact + ".\r\n",
                                        start + "250 2.0.0 Ok: queued as t.2a.1\r\n",
                                        steps);
    ASSERT_EQ(fits.delivered.size(), 1u);
    EXPECT_EQ(fits.stored[0], exact);
    // A stuffed dot is not counted: the same 5000 octets once un-stuffed.
    SessionRun stuffed_dot = expect_transcript(scenario, head + "." + exact + ".\r\n",
                                               start + "250 2.0.0 Ok: queued as t.2a.1\r\n",
                                               steps);
    ASSERT_EQ(stuffed_dot.delivered.size(), 1u);
    EXPECT_EQ(stuffed_dot.stored[0], exact);
    SessionRun too_big = expect_transcript(
        scenario, head + exact + "x\r\n.\r\nNOOP\r\n",
        start + "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n",
        steps);
    EXPECT_TRUE(too_big.delivered.empty());
}

// ---- recipients ---------------------------------------------------------------

namespace {

std::string rcpt_lines(int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += "RCPT TO:<r" + std::to_string(i) + "@remote.example>\r\n";
    return out;
}

}  // namespace

TEST(SmtpServer, RecipientsBeyondTheLimitGet452) {
    Scenario scenario;
    scenario.config.max_recipients = 3;
    scenario.peer.may_relay = true;
    SessionRun run = expect_transcript(
        scenario, "EHLO c\r\nMAIL FROM:<a@b.example>\r\n" + rcpt_lines(4) + "DATA\r\nx\r\n.\r\n",
        greeting + ehlo_reply + "250 2.1.0 Ok\r\n" + "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
            "452 4.5.3 Error: too many recipients\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as t.2a.1\r\n");
    ASSERT_EQ(run.delivered.size(), 1u);
    EXPECT_EQ(run.delivered[0].envelope.recipients.size(), 3u);
}

TEST(SmtpServer, Recipient1000IsAcceptedAnd1001Refused) {
    Scenario scenario;
    scenario.peer.may_relay = true;
    std::string expected = greeting + ehlo_reply + "250 2.1.0 Ok\r\n";
    for (int i = 0; i < 1000; ++i) expected += "250 2.1.5 Ok\r\n";
    expected += "452 4.5.3 Error: too many recipients\r\n";
    SessionRun run = expect_transcript(scenario, "EHLO c\r\nMAIL FROM:<a@b.example>\r\n" + rcpt_lines(1001),
                                expected, {1, 7, 1000, 4096});
    EXPECT_EQ(run.sent, expected);
}

TEST(SmtpServer, RelayIsDeniedForStrangers) {
    Scenario scenario;
    SessionRun run = expect_transcript(
        scenario, "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@remote.example>\r\n",
        greeting + ehlo_reply + "250 2.1.0 Ok\r\n"
                                "554 5.7.1 <x@remote.example>: Relay access denied\r\n");
    EXPECT_EQ(run.events,
              (std::vector<std::string>{"rejected to=<x@remote.example> reason=relay access denied"}));
}

TEST(SmtpServer, RelayIsAllowedForRelayClientsWithEmptyMailbox) {
    Scenario scenario;
    scenario.peer.may_relay = true;
    SessionRun run = expect_transcript(
        scenario,
        "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@Remote.Example>\r\nDATA\r\nhi\r\n.\r\n",
        greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                                "354 End data with <CR><LF>.<CR><LF>\r\n"
                                "250 2.0.0 Ok: queued as t.2a.1\r\n");
    ASSERT_EQ(run.delivered.size(), 1u);
    ASSERT_EQ(run.delivered[0].envelope.recipients.size(), 1u);
    EXPECT_EQ(run.delivered[0].envelope.recipients[0].address, "x@remote.example");
    EXPECT_EQ(run.delivered[0].envelope.recipients[0].mailbox, "");
    EXPECT_TRUE(run.lookups.empty());
}

TEST(SmtpServer, UnknownLocalUserGets550) {
    Scenario scenario;
    SessionRun run = expect_transcript(
        scenario, "HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<nobody@localhost>\r\n",
        greeting + "250 mx.example\r\n250 OK\r\n"
                   "550 <nobody@localhost>: Recipient address rejected: User unknown\r\n");
    EXPECT_EQ(run.events,
              (std::vector<std::string>{"rejected to=<nobody@localhost> reason=user unknown"}));
}

TEST(SmtpServer, LookupFailureIsTemporary) {
    Scenario scenario;
    expect_transcript(scenario, "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<tempfail@localhost>\r\n",
                      greeting + ehlo_reply + "250 2.1.0 Ok\r\n"
                                              "451 4.3.0 <tempfail@localhost>: Temporary lookup "
                                              "failure\r\n");
}

TEST(SmtpServer, OwnAddressLiteralAndBarePostmasterAreLocal) {
    Scenario scenario;
    SessionRun run = expect_transcript(
        scenario,
        "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@[10.99.0.2]>\r\n"
        "RCPT TO:<Postmaster>\r\nRCPT TO:<POSTMASTER@mx.example>\r\nRCPT TO:<bob@[10.99.0.9]>\r\n",
        greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
                                "554 5.7.1 <bob@[10.99.0.9]>: Relay access denied\r\n");
    EXPECT_EQ(run.lookups, (std::vector<std::string>{"alice", "postmaster", "postmaster"}));
}

TEST(SmtpServer, QuotedLocalPartIsLookedUpUnquoted) {
    Scenario scenario;
    SessionRun run = expect_transcript(
        scenario, "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<\"alice\"@localhost>\r\n",
        greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
    EXPECT_EQ(run.lookups, (std::vector<std::string>{"alice"}));
}

TEST(SmtpServer, PathLikeLocalPartNeverReachesTheStore) {
    Scenario scenario;
    SessionRun run = expect_transcript(
        scenario, "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<\"../etc\"@localhost>\r\n",
        greeting + ehlo_reply + "250 2.1.0 Ok\r\n"
                                "550 5.1.1 <\"../etc\"@localhost>: Recipient address rejected: "
                                "User unknown\r\n");
    EXPECT_TRUE(run.lookups.empty());
}

TEST(SmtpServer, DuplicateRecipientIsStoredOnce) {
    Scenario scenario;
    SessionRun run = expect_transcript(
        scenario,
        "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\n"
        "RCPT TO:<alice@LOCALHOST>\r\nDATA\r\nx\r\n.\r\n",
        greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
                                "354 End data with <CR><LF>.<CR><LF>\r\n"
                                "250 2.0.0 Ok: queued as t.2a.1\r\n");
    ASSERT_EQ(run.delivered.size(), 1u);
    EXPECT_EQ(run.delivered[0].envelope.recipients.size(), 1u);
}

// ---- syntax and sequence errors ----------------------------------------------------

TEST(SmtpServer, SequenceErrorsGet503) {
    Scenario scenario;
    expect_transcript(scenario,
                      "MAIL FROM:<a@b.example>\r\nEHLO c\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n"
                      "MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\nDATA\r\n",
                      greeting + "503 Error: send HELO/EHLO first\r\n" + ehlo_reply +
                          "503 5.5.1 Error: need MAIL command\r\n"
                          "503 5.5.1 Error: need RCPT command\r\n"
                          "250 2.1.0 Ok\r\n"
                          "503 5.5.1 Error: nested MAIL command\r\n"
                          "503 5.5.1 Error: need RCPT command\r\n");
}

TEST(SmtpServer, HeloOrEhloWithoutArgumentGets501) {
    Scenario scenario;
    expect_transcript(scenario, "HELO\r\nEHLO   \r\nEHLO c\r\nHELO\r\n",
                      greeting + "501 Syntax: HELO/EHLO hostname\r\n"
                                 "501 Syntax: HELO/EHLO hostname\r\n" +
                          ehlo_reply + "501 5.5.4 Syntax: HELO/EHLO hostname\r\n");
}

TEST(SmtpServer, HeloResetsTheTransaction) {
    Scenario scenario;
    expect_transcript(scenario,
                      "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\nEHLO c\r\n"
                      "DATA\r\nRCPT TO:<alice@localhost>\r\n",
                      greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + ehlo_reply +
                          "503 5.5.1 Error: need RCPT command\r\n"
                          "503 5.5.1 Error: need MAIL command\r\n");
}

TEST(SmtpServer, RsetDropsTheTransaction) {
    Scenario scenario;
    expect_transcript(scenario,
                      "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRSET\r\nRCPT TO:<alice@localhost>\r\n"
                      "RSET x\r\n",
                      greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n"
                                              "503 5.5.1 Error: need MAIL command\r\n"
                                              "501 5.5.4 Syntax: RSET\r\n");
}

TEST(SmtpServer, BadAddressSyntaxGets501) {
    Scenario scenario;
    SessionRun run = expect_transcript(scenario,
                      "EHLO c\r\nMAIL FROM:<a@@b>\r\nMAIL TO:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\n"
                      "RCPT TO:<a b@c.example>\r\nRCPT <x@localhost>\r\nRCPT TO:<>\r\n",
                      greeting + ehlo_reply +
                          "501 5.1.7 Bad sender address syntax\r\n"
                          "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
                          "250 2.1.0 Ok\r\n"
                          "501 5.1.3 Bad recipient address syntax\r\n"
                          "501 5.5.4 Syntax: RCPT TO:<address>\r\n"
                          "501 5.1.3 Bad recipient address syntax\r\n");
    EXPECT_EQ(run.events, (std::vector<std::string>{
                              "rejected reason=bad recipient: bad local part",
                              "rejected reason=bad recipient: Syntax: RCPT TO:<address>",
                              "rejected reason=bad recipient: empty recipient"}));
}

TEST(SmtpServer, UnknownEsmtpParameterGets555) {
    Scenario scenario;
    expect_transcript(scenario,
                      "EHLO c\r\nMAIL FROM:<a@b.example> AUTH=<>\r\nMAIL FROM:<a@b.example> SIZE=x\r\n"
                      "MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost> NOTIFY=NEVER\r\n",
                      greeting + ehlo_reply +
                          "555 5.5.4 Unsupported option: AUTH\r\n"
                          "501 5.5.4 Bad SIZE syntax\r\n"
                          "250 2.1.0 Ok\r\n"
                          "555 5.5.4 Unsupported option: NOTIFY\r\n");
}

// A reply that quotes a long argument back is longer than the usual
// reply buffer: it still goes out whole, to the observer as to the wire.
TEST(SmtpServer, ReplyQuotingALongArgumentGoesOutWhole) {
    Scenario scenario;
    std::string keyword(900, 'K');
    SessionRun run = expect_transcript(
        scenario, "EHLO c\r\nMAIL FROM:<a@b.example> " + keyword + "=1\r\nNOOP\r\n",
        greeting + ehlo_reply + "555 5.5.4 Unsupported option: " + keyword + "\r\n250 2.0.0 Ok\r\n",
        {1, 7, 511, 512, 1000});
    ASSERT_GE(run.replies.size(), 2u);
    EXPECT_EQ(run.replies[run.replies.size() - 2], "555 5.5.4 Unsupported option: " + keyword);
}

TEST(SmtpServer, DataWithArgumentGets501) {
    Scenario scenario;
    expect_transcript(scenario, "EHLO c\r\nDATA x\r\n",
                      greeting + ehlo_reply + "501 5.5.4 Syntax: DATA\r\n");
}

TEST(SmtpServer, OverLongCommandLineGets500AndSessionSurvives) {
    Scenario scenario;
    std::string long_line = "NOOP " + std::string(1200, 'x') + "\r\n";
    std::string ok_line = "NOOP " + std::string(993, 'x') + "\r\n";  // 1000 octets with CRLF
    ASSERT_EQ(ok_line.size(), 1000u);
    expect_transcript(scenario, long_line + "EHLO c\r\n" + long_line + ok_line + "QUIT\r\n",
                      greeting + "500 Line too long\r\n" + ehlo_reply +
                          "500 5.5.0 Line too long\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n",
                      {1, 2, 5, 13, 999, 1000, 1001, 1205, 4000});
}

TEST(SmtpServer, UnknownAndUnimplementedCommands) {
    Scenario scenario;
    expect_transcript(scenario,
                      "EHLO c\r\nBOGUS\r\nEXPN staff\r\nSTARTTLS\r\nauth plain\r\nTURN\r\n"
                      "VRFY\r\nVRFY bob\r\nHELP\r\n\r\n",
                      greeting + ehlo_reply +
                          "500 5.5.2 Error: command not recognized\r\n"
                          "502 5.5.1 Command not implemented\r\n"
                          "502 5.5.1 Command not implemented\r\n"
                          "502 5.5.1 Command not implemented\r\n"
                          "502 5.5.1 Command not implemented\r\n"
                          "501 5.5.4 Syntax: VRFY address\r\n"
                          "252 2.0.0 Cannot VRFY user, but will accept message and attempt "
                          "delivery\r\n"
                          "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\r\n"
                          "500 5.5.2 Error: bad syntax\r\n");
}

TEST(SmtpServer, HeloNameWithControlCharactersIsRefused) {
    Scenario scenario;
    expect_transcript(scenario, "EHLO a\rb\r\nHELO " + std::string(256, 'h') + "\r\n",
                      greeting + "501 Helo command rejected: Invalid name\r\n"
                                 "501 Helo command rejected: Invalid name\r\n");
}

// ---- store answers ---------------------------------------------------------------

namespace {

std::string one_message_session() {
    return "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\nx\r\n.\r\n"
           "NOOP\r\n";
}

std::string one_message_replies(const std::string& end_of_data) {
    return greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                                   "354 End data with <CR><LF>.<CR><LF>\r\n" +
           end_of_data + "250 2.0.0 Ok\r\n";
}

}  // namespace

TEST(SmtpServer, StoreOutOfSpaceGets452) {
    Scenario scenario;
    scenario.deliver_outcome = Outcome::no_space;
    SessionRun run = expect_transcript(scenario, one_message_session(),
                                one_message_replies("452 4.3.1 Insufficient system storage\r\n"));
    EXPECT_TRUE(run.events.empty());
}

TEST(SmtpServer, StoreTemporaryFailureGets451) {
    Scenario scenario;
    scenario.deliver_outcome = Outcome::temp_failure;
    expect_transcript(scenario, one_message_session(),
                      one_message_replies("451 4.3.0 Error: queue file write error\r\n"));
}

TEST(SmtpServer, StorePermanentFailureGets554) {
    Scenario scenario;
    scenario.deliver_outcome = Outcome::permanent_failure;
    expect_transcript(scenario, one_message_session(),
                      one_message_replies("554 5.3.0 Error: message could not be stored\r\n"));
}

TEST(SmtpServer, AcceptedEventNamesIdSenderRecipientsAndSize) {
    Scenario scenario;
    scenario.config.header_fill = false;
    SessionRun run = expect_transcript(scenario, one_message_session(),
                                one_message_replies("250 2.0.0 Ok: queued as t.2a.1\r\n"));
    EXPECT_EQ(run.events,
              (std::vector<std::string>{"accepted id=t.2a.1 from=<a@b.example> rcpts=1 size=3"}));
}

TEST(SmtpServer, ShutdownWhileDeliveryPendingAnswersTheMessageFirst) {
    Scenario scenario;
    scenario.while_delivering = [](SmtpServer& session) { session.on_shutdown(); };
    SessionRun run = expect_transcript(scenario, one_message_session(),
                                greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                                                        "354 End data with <CR><LF>.<CR><LF>\r\n"
                                                        "250 2.0.0 Ok: queued as t.2a.1\r\n"
                                                        "421 mx.example shutting down\r\n");
    EXPECT_TRUE(run.closed);
    EXPECT_EQ(run.delivered.size(), 1u);
}

TEST(SmtpServer, ShutdownWhenIdleSends421AndCloses) {
    Scenario scenario;
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    SmtpServer session(scenario.config, scenario.peer, transport, port, observer);
    session.start();
    EXPECT_EQ(session.on_bytes("EHLO c\r\n"), 8u);
    session.on_shutdown();
    EXPECT_EQ(transport.sent, greeting + ehlo_reply + "421 mx.example shutting down\r\n");
    EXPECT_TRUE(transport.closed);
}

TEST(SmtpServer, IdleTimeoutSends421WithEnhancedCodeOnlyAfterEhlo) {
    for (bool ehlo : {false, true}) {
        Scenario scenario;
        RecordingTransport transport;
        QueuedMailPort port;
        RecordingObserver observer;
        SmtpServer session(scenario.config, scenario.peer, transport, port, observer);
        session.start();
        session.on_bytes(ehlo ? "EHLO c\r\n" : "HELO c\r\n");
        session.on_idle_timeout();
        EXPECT_TRUE(transport.closed);
        EXPECT_TRUE(transport.sent.ends_with(ehlo ? "421 4.4.2 mx.example Error: timeout exceeded\r\n"
                                                  : "421 mx.example Error: timeout exceeded\r\n"))
            << transport.sent;
    }
}

TEST(SmtpServer, CommandsAreNotReadWhileTheStoreIsAsked) {
    Scenario scenario;
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    SmtpServer session(scenario.config, scenario.peer, transport, port, observer);
    session.start();
    std::string input = "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\nNOOP\r\n";
    EXPECT_EQ(session.on_bytes(input), input.size());  // buffered, not yet read
    EXPECT_TRUE(session.waiting());
    ASSERT_EQ(port.requests.size(), 1u);
    EXPECT_EQ(transport.sent, greeting + ehlo_reply + "250 2.1.0 Ok\r\n");
    session.on_store_reply(UserFound{Outcome::ok, "alice"});
    EXPECT_FALSE(session.waiting());
    EXPECT_EQ(transport.sent, greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n");
}

TEST(SmtpServer, WhileWaitingOnlyWhatFitsIsTaken) {
    Scenario scenario;
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    SmtpServer session(scenario.config, scenario.peer, transport, port, observer);
    session.start();
    std::string input = "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\n" +
                        std::string(20000, 'n');
    std::size_t taken = session.on_bytes(input);
    EXPECT_TRUE(session.waiting());
    EXPECT_LT(taken, input.size());
}

TEST(SmtpServer, PeerClosedBeforeTheFinalDotDeliversNothing) {
    Scenario scenario;
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    scenario.peer.may_relay = true;
    SmtpServer session(scenario.config, scenario.peer, transport, port, observer);
    session.start();
    session.on_bytes("HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@remote.example>\r\n"
                           "DATA\r\nSubject: cut\r\n\r\nbody\r\n");
    EXPECT_FALSE(session.waiting());
    session.on_peer_closed();
    EXPECT_TRUE(port.requests.empty());
    EXPECT_FALSE(transport.closed);  // the driver closes; nothing more is sent
    EXPECT_TRUE(transport.sent.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"));
}

TEST(SmtpServer, ObserverSeesCommandsAndEveryReplyLine) {
    Scenario scenario;
    SessionRun run = expect_transcript(scenario,
                                "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\n"
                                "DATA\r\nbody line\r\n.\r\nQUIT\r\n",
                                greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                                                        "354 End data with <CR><LF>.<CR><LF>\r\n"
                                                        "250 2.0.0 Ok: queued as t.2a.1\r\n"
                                                        "221 2.0.0 Bye\r\n");
    EXPECT_EQ(run.commands, (std::vector<std::string>{"EHLO c", "MAIL FROM:<a@b.example>",
                                                      "RCPT TO:<alice@localhost>", "DATA", "QUIT"}));
    ASSERT_EQ(run.replies.size(), 12u);
    EXPECT_EQ(run.replies[1], "250-mx.example");
    EXPECT_EQ(run.replies[6], "250 HELP");
}

// ---- header fill ---------------------------------------------------------------

namespace {

std::string message_session(const std::string& rcpts, const std::string& body) {
    return "EHLO client.example\r\nMAIL FROM:<a@b.example>\r\n" + rcpts + "DATA\r\n" + body +
           ".\r\n";
}

// What the one delivery of `input` stores.
std::string only_delivery(const Scenario& scenario, const std::string& input) {
    SessionRun run = run_once(scenario, input, 1);
    SessionRun whole = run_once(scenario, input, input.size());
    EXPECT_TRUE(same_deliveries(run, whole));
    EXPECT_EQ(run.stored.size(), 1u);
    return run.stored.empty() ? std::string() : run.stored.front();
}

}  // namespace

TEST(SmtpServer, HeaderFillAddsDateAndMessageIdWhenMissing) {
    Scenario scenario;
    std::string d = only_delivery(scenario, message_session("RCPT TO:<alice@localhost>\r\n",
                                                        "Subject: s\r\n\r\nb\r\n"));
    EXPECT_EQ(d, filled("t.2a.1", "alice@localhost") + "Subject: s\r\n\r\nb\r\n");
}

TEST(SmtpServer, HeaderFillKeepsDateAndMessageIdWhenPresent) {
    Scenario scenario;
    std::string body = "date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMESSAGE-ID: <m@x>\r\n\r\nb\r\n";
    std::string d = only_delivery(scenario, message_session("RCPT TO:<alice@localhost>\r\n", body));
    EXPECT_EQ(d, received("t.2a.1", "alice@localhost") + body);
}

TEST(SmtpServer, HeaderFillOnMessageWithoutHeaders) {
    Scenario scenario;
    std::string d = only_delivery(scenario,
                              message_session("RCPT TO:<alice@localhost>\r\n", "just text\r\n"));
    EXPECT_EQ(d, filled("t.2a.1", "alice@localhost") + "\r\njust text\r\n");
}

TEST(SmtpServer, ReceivedForClauseOnlyWithOneRecipient) {
    Scenario scenario;
    std::string d = only_delivery(
        scenario, message_session("RCPT TO:<alice@localhost>\r\nRCPT TO:<bob@localhost>\r\n",
                                  "Subject: s\r\n\r\nb\r\n"));
    EXPECT_EQ(d, filled("t.2a.1", "") + "Subject: s\r\n\r\nb\r\n");
}

TEST(SmtpServer, HeaderFillNoneStoresExactlyWhatWasSent) {
    Scenario scenario;
    scenario.config.header_fill = false;
    std::string body = "Subject: s\r\n\r\nb\r\n";
    std::string d = only_delivery(scenario, message_session("RCPT TO:<alice@localhost>\r\n", body));
    EXPECT_EQ(d, body);
}

// ---- big messages: the body goes to the store in chunks as it arrives ----------

namespace {

// About `octets` of CRLF lines of varying length; some start with a dot or
// "From ", one is empty. `header` goes first.
std::string big_body(std::size_t octets, const std::string& header = "Subject: big\r\n\r\n") {
    std::string body = header;
    for (std::size_t i = 0; body.size() < octets; ++i) {
        if (i % 7 == 0) body += ".";
        if (i % 11 == 0) body += "From here ";
        if (i % 13 != 5) body += std::string(i % 97, static_cast<char>('a' + i % 26));
        body += "\r\n";
    }
    return body;
}

// RFC 5321 §4.5.2: the client doubles a leading dot.
std::string stuffed(const std::string& body) {
    std::string out;
    bool line_start = true;
    for (char c : body) {
        if (line_start && c == '.') out += '.';
        out += c;
        line_start = c == '\n';
    }
    return out;
}

const std::string big_start =
    "EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n";
const std::string big_start_replies =
    greeting + ehlo_reply + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n";

// Steps that cut the input everywhere relative to the chunk size.
const std::vector<std::size_t> big_steps = {1,    2,    3,     7,      100,    999,
                                            1000, 4096, 65537, 262144, 262145, 700001};

}  // namespace

TEST(SmtpServerSpool, BigMessageIsHandedInChunksAndStoredAsOneByteForByte) {
    for (bool fill : {true, false}) {
        Scenario scenario;
        scenario.config.header_fill = fill;
        std::string body = big_body(1 << 20);
        SessionRun run = expect_transcript(scenario, big_start + stuffed(body) + ".\r\nNOOP\r\n",
                                           big_start_replies +
                                               "250 2.0.0 Ok: queued as t.2a.1\r\n"
                                               "250 2.0.0 Ok\r\n",
                                           big_steps);
        ASSERT_EQ(run.stored.size(), 1u);
        std::string head = fill ? received("t.2a.1", "alice@localhost") + "Date: " + fixed_date +
                                      "\r\nMessage-ID: <t.2a.1@mx.example>\r\n"
                                : "";
        EXPECT_TRUE(run.stored[0] == head + body) << "fill " << fill;
        EXPECT_EQ(run.delivered[0].head, head);
        EXPECT_NE(run.delivered[0].spool, 0u);
        EXPECT_LT(run.delivered[0].message.size(), spool_chunk_size + 4096);
        EXPECT_GE(run.chunks, 3u);
        EXPECT_EQ(run.drops, 0u);
        EXPECT_EQ(run.events.back(), "accepted id=t.2a.1 from=<a@b.example> rcpts=1 size=" +
                                         std::to_string(head.size() + body.size()));
    }
}

TEST(SmtpServerSpool, ChunksNeverHoldMuchMoreThanTheChunkSize) {
    Scenario scenario;
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    SmtpServer session(scenario.config, scenario.peer, transport, port, observer);
    SessionRun run;
    session.start();
    feed(session, transport, port, big_start + stuffed(big_body(3 << 20)) + ".\r\n", 65536,
         [&](const StoreRequest& request) {
             if (const auto* chunk = std::get_if<SpoolChunk>(&request)) {
                 EXPECT_GE(chunk->bytes.size(), spool_chunk_size);
                 EXPECT_LE(chunk->bytes.size(), spool_chunk_size + 4000);
             }
             return answer(scenario, session, run, request);
         });
    EXPECT_EQ(run.stored.size(), 1u);
    EXPECT_GE(run.chunks, 11u);
}

TEST(SmtpServerSpool, SmallMessageIsNotSpooled) {
    Scenario scenario;
    std::string body = big_body(spool_chunk_size - 200);
    SessionRun run = expect_transcript(scenario, big_start + stuffed(body) + ".\r\n",
                                       big_start_replies + "250 2.0.0 Ok: queued as t.2a.1\r\n",
                                       {1, 1000, 4096});
    EXPECT_EQ(run.chunks, 0u);
    ASSERT_EQ(run.delivered.size(), 1u);
    EXPECT_EQ(run.delivered[0].spool, 0u);
    EXPECT_EQ(run.delivered[0].message, body);
}

// The end of data and dot-stuffing fall on every position around the
// point where the first chunk is handed over.
TEST(SmtpServerSpool, EndOfDataAndStuffingAcrossTheChunkBoundary) {
    Scenario scenario;
    scenario.config.header_fill = false;
    for (std::size_t extra = 0; extra < 12; ++extra) {
        std::string body = std::string(spool_chunk_size - 8 + extra, 'x') + "\r\n.\r\n..\r\n";
        std::string more = std::string(extra, 'y') + "\r\n";
        for (const std::string& text : {body, body + more}) {
            SessionRun run = expect_transcript(
                scenario, big_start + stuffed(text) + ".\r\nNOOP\r\n",
                big_start_replies + "250 2.0.0 Ok: queued as t.2a.1\r\n250 2.0.0 Ok\r\n",
                {1, 2, 3, 5, 4000, 4096});
            ASSERT_EQ(run.stored.size(), 1u);
            EXPECT_TRUE(run.stored[0] == text) << "extra " << extra;
        }
    }
}

// The fields to add are decided on the whole header section, however long.
TEST(SmtpServerSpool, HeaderLongerThanAChunkGetsTheSameFill) {
    std::string filler;
    while (filler.size() < spool_chunk_size + 5000) filler += "X-Filler: " + std::string(60, 'f') + "\r\n";
    Scenario scenario;
    for (const std::string& header :
         {filler + "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n",
          filler + " folded\r\nMessage-Id: <m@x>\r\n\r\n", filler + "not a field\r\nDate: x\r\n\r\n"}) {
        std::string body = big_body(700000, header);
        SessionRun run = expect_transcript(scenario, big_start + stuffed(body) + ".\r\n",
                                           big_start_replies + "250 2.0.0 Ok: queued as t.2a.1\r\n",
                                           {1, 4096, 300000});
        ASSERT_EQ(run.stored.size(), 1u);
        Arrival arrival{"client.example", "10.99.0.7", "mx.example", true, "t.2a.1",
                        run.delivered[0].envelope.recipients, fixed_time};
        EXPECT_GE(run.chunks, 2u);
        EXPECT_TRUE(run.stored[0] == header_prefix(arrival, std::string_view(body)) + body);
    }
}

TEST(SmtpServerSpool, OverTheSizeLimitTheSpoolIsDroppedAnd552Follows) {
    Scenario scenario;
    scenario.config.max_message_size = 600000;
    SessionRun run = expect_transcript(
        scenario, big_start + stuffed(big_body(1 << 20)) + ".\r\nNOOP\r\n",
        greeting +
            "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 600000\r\n250-8BITMIME\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n552 5.3.4 Message size exceeds fixed limit\r\n"
            "250 2.0.0 Ok\r\n",
        {1, 4096, 65536});
    EXPECT_TRUE(run.stored.empty());
    EXPECT_EQ(run.chunks, 2u);  // nothing more once the limit is passed
    EXPECT_EQ(run.drops, 1u);
}

TEST(SmtpServerSpool, BareLfAfterSpoolingDropsTheSpoolAnd554Follows) {
    Scenario scenario;
    std::string body = big_body(600000) + "smuggled\n.\r\n" + big_body(300000);
    SessionRun run = expect_transcript(scenario, big_start + stuffed(body) + ".\r\nNOOP\r\n",
                                       big_start_replies + smuggling_refused + "250 2.0.0 Ok\r\n",
                                       {1, 4096});
    EXPECT_TRUE(run.stored.empty());
    EXPECT_EQ(run.drops, 1u);
}

TEST(SmtpServerSpool, DiskFullWhileSpoolingReadsToTheEndThenGets452) {
    for (std::size_t ok_chunks : {0, 1, 2}) {
        Scenario scenario;
        scenario.spool_outcome = Outcome::no_space;
        scenario.spool_ok_chunks = ok_chunks;
        // Line by line the rest would read as commands: it must not.
        SessionRun run = expect_transcript(
            scenario, big_start + stuffed(big_body(1 << 20, "MAIL FROM:<x@y>\r\n\r\n")) + ".\r\nNOOP\r\n",
            big_start_replies + "452 4.3.1 Insufficient system storage\r\n250 2.0.0 Ok\r\n",
            {1, 4096, 65536});
        EXPECT_TRUE(run.stored.empty());
        EXPECT_EQ(run.chunks, ok_chunks + 1);  // none after the failure
        EXPECT_EQ(run.drops, ok_chunks ? 1u : 0u);
        EXPECT_EQ(run.commands.size(), 5u);
    }
}

TEST(SmtpServerSpool, SpoolWriteErrorGets451) {
    Scenario scenario;
    scenario.spool_outcome = Outcome::temp_failure;
    scenario.spool_ok_chunks = 1;
    SessionRun run = expect_transcript(
        scenario, big_start + stuffed(big_body(1 << 20)) + ".\r\n",
        big_start_replies + "451 4.3.0 Error: queue file write error\r\n", {4096});
    EXPECT_TRUE(run.stored.empty());
}

TEST(SmtpServerSpool, SecondMessageOfTheSessionStartsANewSpool) {
    Scenario scenario;
    scenario.config.header_fill = false;
    std::string one = big_body(600000), two = big_body(400000, "Subject: two\r\n\r\n");
    SessionRun run = expect_transcript(
        scenario,
        big_start + stuffed(one) + ".\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n" +
            stuffed(two) + ".\r\n",
        big_start_replies + "250 2.0.0 Ok: queued as t.2a.1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                            "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as t.2a.2\r\n",
        {1, 4096});
    ASSERT_EQ(run.stored.size(), 2u);
    EXPECT_TRUE(run.stored[0] == one);
    EXPECT_TRUE(run.stored[1] == two);
    EXPECT_NE(run.delivered[0].spool, run.delivered[1].spool);
}

namespace {

// A session stopped in the middle of a big DATA: its first chunk answered
// by the fake store (spool 7), the second one still out unless
// `answer_second`, and then the rest of the body read.
struct MidData {
    Scenario scenario;
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    SmtpServer session{scenario.config, scenario.peer, transport, port, observer};

    explicit MidData(bool answer_second) {
        session.start();
        std::string input = big_start + stuffed(big_body(600000));
        std::size_t at = 0, chunks = 0;
        while (at < input.size()) {
            at += session.on_bytes(std::string_view(input).substr(at));
            if (!session.waiting()) continue;
            EXPECT_EQ(port.requests.size(), 1u);
            bool lookup = std::holds_alternative<LookupUser>(port.requests.front());
            if (!lookup && ++chunks == 2 && !answer_second) return;
            port.requests.clear();
            if (lookup) {
                session.on_store_reply(UserFound{Outcome::ok, "alice"});
            } else {
                session.on_store_reply(Spooled{Outcome::ok, 7});
            }
        }
        EXPECT_EQ(chunks, 2u);
    }

    bool dropped(std::uint64_t spool) const {
        return std::any_of(port.requests.begin(), port.requests.end(), [&](const StoreRequest& r) {
            const auto* drop = std::get_if<DropSpool>(&r);
            return drop && drop->spool == spool;
        });
    }
};

}  // namespace

TEST(SmtpServerSpool, WhileAChunkIsOutNoInputIsRead) {
    MidData mid(false);
    ASSERT_TRUE(mid.session.waiting());
    std::string more(100000, 'z');
    std::size_t taken = mid.session.on_bytes(more);
    EXPECT_LE(taken, 4000u);  // only what the line buffer holds: TCP back-pressure
    EXPECT_EQ(mid.session.on_bytes(more), 0u);
}

TEST(SmtpServerSpool, PeerGoneMidDataDropsTheSpool) {
    MidData mid(true);
    EXPECT_FALSE(mid.session.waiting());
    mid.session.on_peer_closed();
    EXPECT_TRUE(mid.dropped(7));
    EXPECT_EQ(mid.port.requests.size(), 1u);
}

TEST(SmtpServerSpool, PeerGoneWhileAChunkIsOutDropsItsSpoolWhenItsAnswerComes) {
    MidData mid(false);
    ASSERT_TRUE(mid.session.waiting());
    mid.port.requests.clear();
    mid.session.on_peer_closed();
    EXPECT_TRUE(mid.dropped(7));  // the spool of the earlier chunks
    mid.port.requests.clear();
    mid.session.on_store_reply(SpoolDropped{});
    mid.session.on_store_reply(Spooled{Outcome::ok, 7});
    EXPECT_TRUE(mid.dropped(7));
}

TEST(SmtpServerSpool, ShutdownMidDataAnswersTheChunkThenDropsTheSpool) {
    MidData mid(false);
    ASSERT_TRUE(mid.session.waiting());
    mid.port.requests.clear();
    mid.session.on_shutdown();
    EXPECT_FALSE(mid.transport.closed);  // the chunk is answered first
    mid.session.on_store_reply(Spooled{Outcome::ok, 7});
    EXPECT_TRUE(mid.transport.closed);
    EXPECT_TRUE(mid.transport.sent.ends_with("421 mx.example shutting down\r\n"));
    EXPECT_TRUE(mid.dropped(7));
}

TEST(SmtpServerSpool, IdleTimeoutMidDataDropsTheSpool) {
    MidData mid(true);
    mid.session.on_idle_timeout();
    EXPECT_TRUE(mid.transport.closed);
    EXPECT_TRUE(mid.dropped(7));
}
