// --max-errors, Postfix's smtpd_hard_error_limit: a session that has had
// this many 4xx/5xx replies gets "421 ... Error: too many errors" at its
// next command and is closed, with a refusal event (a client that only
// makes errors, e.g. a flood of empty lines, ends by itself).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/smtp_server.hpp"
#include "apps/tests/session_harness.hpp"

using namespace bm::apps;
using namespace bm::apps::testing;

namespace {

struct Transcript {
    std::vector<std::string> replies;  // after the greeting, without CRLF
    std::vector<std::string> events;
    bool closed = false;
};

StoreReply answer(const StoreRequest& request) {
    if (const auto* lookup = std::get_if<LookupUser>(&request)) {
        if (lookup->local_part == "alice") return UserFound{Outcome::ok, "alice"};
        return UserFound{Outcome::not_found, {}};
    }
    if (std::holds_alternative<Deliver>(request)) return Delivered{Outcome::ok, {}};
    ADD_FAILURE() << "unexpected store request";
    return Delivered{};
}

Transcript run(std::string_view input, std::uint32_t max_errors, std::size_t step = std::size_t(-1)) {
    SmtpConfig config;
    config.hostname = "mx.example";
    config.header_fill = false;
    config.max_errors = max_errors;
    Peer peer;
    peer.port = 40000;
    peer.connection = 1;
    RecordingTransport transport;
    QueuedMailPort port;
    RecordingObserver observer;
    SmtpServer session(config, peer, transport, port, observer);
    session.start();
    feed(session, transport, port, input, std::min(step, std::max<std::size_t>(input.size(), 1)), answer);
    Transcript result;
    std::string_view rest = transport.sent;
    while (!rest.empty()) {
        std::size_t eol = rest.find("\r\n");
        result.replies.emplace_back(rest.substr(0, eol));
        rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    }
    if (!result.replies.empty()) result.replies.erase(result.replies.begin());
    result.events = observer.events;
    result.closed = transport.closed;
    return result;
}

std::string repeat(std::string_view text, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += text;
    return out;
}

TEST(SmtpErrorLimit, AFloodOfEmptyLinesGetsTwentyErrorsThen421AndTheSessionEnds) {
    // Bare LF lines (tolerated as line ends) are empty commands: 500 each.
    for (std::size_t step : {std::size_t(-1), std::size_t(1), std::size_t(7)}) {
        Transcript r = run(std::string(1000, '\n'), 20, step);
        ASSERT_EQ(r.replies.size(), 21u) << step;
        for (int i = 0; i < 20; ++i) EXPECT_EQ(r.replies[i], "500 Error: bad syntax") << i;
        EXPECT_EQ(r.replies[20], "421 mx.example Error: too many errors");
        EXPECT_TRUE(r.closed);
        ASSERT_EQ(r.events.size(), 1u);
        EXPECT_EQ(r.events[0], "refused reason=too many errors errors=20");
    }
}

TEST(SmtpErrorLimit, EsmtpSessionsGetTheEnhancedCode) {
    Transcript r = run("EHLO c\r\n" + repeat("BOGUS\r\n", 5) + "NOOP\r\n", 3);
    // EHLO's six lines, three errors, then the refusal instead of the fourth.
    ASSERT_EQ(r.replies.size(), 6u + 3u + 1u);
    EXPECT_EQ(r.replies[6], "500 5.5.2 Error: command not recognized");
    EXPECT_EQ(r.replies[9], "421 4.7.0 mx.example Error: too many errors");
    EXPECT_TRUE(r.closed);
}

TEST(SmtpErrorLimit, RepliesThatAreNotErrorsDoNotCount) {
    // 19 errors of different kinds (syntax, sequence, unknown user), each
    // followed by a success: the session goes on; the 20th error is
    // answered, and only the command after it is refused.
    std::string input = "EHLO c\r\n";
    for (int i = 0; i < 19; ++i) {
        input += i % 3 == 0 ? "RCPT TO:<alice@localhost>\r\n" : i % 3 == 1 ? "BOGUS\r\n" : "\r\n";
        input += "NOOP\r\n";
    }
    Transcript r = run(input, 20);
    EXPECT_FALSE(r.closed);
    EXPECT_EQ(r.replies.back(), "250 2.0.0 Ok");
    EXPECT_TRUE(r.events.empty());

    r = run(input + "MAIL FROM:<a@b>\r\nRCPT TO:<nobody@localhost>\r\nNOOP\r\nNOOP\r\n", 20);
    EXPECT_TRUE(r.closed);
    ASSERT_GE(r.replies.size(), 3u);
    EXPECT_EQ(r.replies[r.replies.size() - 2].substr(0, 4), "550 ");  // the 20th error, answered
    EXPECT_EQ(r.replies.back(), "421 4.7.0 mx.example Error: too many errors");
}

TEST(SmtpErrorLimit, ZeroMeansNoLimit) {
    Transcript r = run(std::string(200, '\n') + "NOOP\r\n", 0);
    ASSERT_EQ(r.replies.size(), 201u);
    EXPECT_EQ(r.replies.back(), "250 OK");
    EXPECT_FALSE(r.closed);
}

}  // namespace
