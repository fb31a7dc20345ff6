// HostedSession::offer: input is taken only while the connection's unsent
// output is under its bound, so a client that never reads its replies
// cannot make the server hold them without limit; and it reports whether a
// line was completed (what restarts a connection's idle timer).
#include <gtest/gtest.h>

#include <string>

#include "apps/hosted_session.hpp"
#include "apps/ipv4_text.hpp"
#include "apps/tests/session_harness.hpp"

using namespace bm::apps;
using namespace bm::apps::testing;

namespace {

// A send queue with a bound, as both builds' (the peer reads nothing
// until drain()).
class BoundedTransport : public RecordingTransport {
public:
    explicit BoundedTransport(std::size_t bound) : bound_(bound) {}
    std::size_t send_room() const override { return sent.size() < bound_ ? bound_ - sent.size() : 0; }
    void drain() { sent.clear(); }

private:
    std::size_t bound_;
};

constexpr std::size_t bound = 64 * 1024;
// One slice of lone LFs earns at most this much beyond the bound: a 500
// line per LF.
constexpr std::size_t overshoot = HostedSession::offer_slice * 64;

struct SmtpFixture : ::testing::Test {
    SmtpFixture() {
        config.hostname = "mx.example";
        config.local_domains = {"mx.example"};
        config.instance_tag = "t";
        config.max_errors = 0;  // the flood of 500s is the point here, not --max-errors
        peer.ip = *bm::parse_ipv4("10.99.0.7");
        hosted.emplace<SmtpServer>(config, peer, transport, port, observer);
        hosted.session().start();
    }
    SmtpConfig config;
    Peer peer;
    BoundedTransport transport{bound};
    QueuedMailPort port;
    RecordingObserver observer;
    HostedSession hosted;
};

TEST_F(SmtpFixture, LfFloodIsTakenOnlyUntilRepliesPassTheBound) {
    std::string flood(1024 * 1024, '\n');
    HostedSession::Offered offered = hosted.offer(flood, transport);
    EXPECT_LT(offered.taken, flood.size());
    EXPECT_GE(transport.sent.size(), bound);
    EXPECT_LE(transport.sent.size(), bound + overshoot);
    EXPECT_TRUE(offered.line_ended);
    // Still full: nothing more is taken, however often it is offered.
    EXPECT_EQ(hosted.offer(std::string_view(flood).substr(offered.taken), transport).taken, 0u);
}

TEST_F(SmtpFixture, TakingResumesOnceThePeerReads) {
    std::string flood(1024 * 1024, '\n');
    std::size_t first = hosted.offer(flood, transport).taken;
    transport.drain();
    std::size_t second = hosted.offer(std::string_view(flood).substr(first), transport).taken;
    EXPECT_GT(second, 0u);
    EXPECT_LE(transport.sent.size(), bound + overshoot);
}

TEST_F(SmtpFixture, NothingIsTakenWithoutRoom) {
    transport.sent.assign(bound, 'x');
    HostedSession::Offered offered = hosted.offer("NOOP\r\n", transport);
    EXPECT_EQ(offered.taken, 0u);
    EXPECT_FALSE(offered.line_ended);
}

TEST_F(SmtpFixture, PipelinedCommandsUnderTheBoundAreTakenAtOnce) {
    HostedSession::Offered offered = hosted.offer("EHLO c\r\nNOOP\r\nNOOP\r\n", transport);
    EXPECT_EQ(offered.taken, 20u);
    EXPECT_TRUE(offered.line_ended);
    EXPECT_EQ(observer.commands.size(), 3u);
}

// A slowloris line: every byte is taken (held by the line reader), none
// completes a line, so the idle timer is not restarted.
TEST_F(SmtpFixture, BytesOfAnUnfinishedLineAreTakenButEndNoLine) {
    HostedSession::Offered offered = hosted.offer("NOO", transport);
    EXPECT_EQ(offered.taken, 3u);
    EXPECT_FALSE(offered.line_ended);
    EXPECT_TRUE(hosted.offer("P\r\n", transport).line_ended);
}

// A DATA body earns no reply until its final dot: it is offered whole, not
// in slices, and each body line counts as a completed line.
TEST_F(SmtpFixture, DataBodyIsOfferedWhole) {
    hosted.offer("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@mx.example>\r\n", transport);
    ASSERT_EQ(port.requests.size(), 1u);  // the recipient's lookup
    port.requests.clear();
    hosted.session().on_store_reply(UserFound{Outcome::ok, "bob"});
    hosted.offer("DATA\r\n", transport);
    ASSERT_FALSE(hosted.session().reply_due());
    std::string body(8 * HostedSession::offer_slice, 'a');
    body += "\r\n";
    HostedSession::Offered offered = hosted.offer(body, transport);
    EXPECT_EQ(offered.taken, body.size());
    EXPECT_TRUE(offered.line_ended);
}

TEST(BackPressure, EchoFloodIsBoundedToo) {
    BoundedTransport transport{bound};
    RecordingObserver observer;
    Peer peer;
    HostedSession hosted;
    hosted.emplace<EchoServer>(peer, transport, observer);
    std::string flood(1024 * 1024, '\n');
    EXPECT_LT(hosted.offer(flood, transport).taken, flood.size());
    EXPECT_LE(transport.sent.size(), bound + overshoot);
}

}  // namespace
