// The queue tool's request and reply lines: every command round-trips,
// anything else is refused with a reason, ids cannot smuggle a path or a
// second line.
#include "relay/control/protocol.hpp"

#include <gtest/gtest.h>

using namespace bm::control;

TEST(ControlProtocol, EveryRequestRoundTrips) {
    for (Request r : {Request{Command::flush, ""}, Request{Command::flush, "Q1"},
                      Request{Command::remove, "1700000000.123456.42.7"}, Request{Command::hold, "Q_2-b"},
                      Request{Command::release, "Q3"}}) {
        std::string line = encode(r);
        ASSERT_TRUE(line.ends_with("\n"));
        line.pop_back();
        auto back = decode_request(line);
        ASSERT_TRUE(back) << line;
        EXPECT_EQ(back->command, r.command);
        EXPECT_EQ(back->id, r.id);
    }
    EXPECT_EQ(encode(Request{Command::remove, "Q1"}), "delete Q1\n");
}

TEST(ControlProtocol, RefusesUnknownCommandsMissingIdsAndUnsafeIds) {
    std::string why;
    EXPECT_FALSE(decode_request("purge Q1", &why));
    EXPECT_EQ(why, "unknown command: purge");
    EXPECT_FALSE(decode_request("delete", &why));
    EXPECT_EQ(why, "delete needs a queue id");
    EXPECT_FALSE(decode_request("hold ../../etc/passwd", &why));
    EXPECT_EQ(why, "not a queue id: ../../etc/passwd");
    EXPECT_FALSE(decode_request("hold .control", &why));
    EXPECT_FALSE(decode_request("hold a b", &why));
    EXPECT_FALSE(decode_request("", &why));
    EXPECT_FALSE(decode_request(std::string(600, 'a'), &why));
    EXPECT_EQ(why, "request too long");
}

TEST(ControlProtocol, RepliesRoundTripAndStayOneLine) {
    EXPECT_EQ(encode(Reply{Outcome::ok, "held Q1"}), "ok held Q1\n");
    EXPECT_EQ(encode(Reply{Outcome::not_found, "no message Q9 in the queue"}),
              "not-found no message Q9 in the queue\n");
    EXPECT_EQ(encode(Reply{Outcome::error, "bad\r\nforged"}), "error bad  forged\n");
    auto r = decode_reply("not-found no message Q9");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->outcome, Outcome::not_found);
    EXPECT_EQ(r->text, "no message Q9");
    EXPECT_FALSE(decode_reply("maybe so"));
}

TEST(ControlProtocol, SocketLivesInTheQueueDir) {
    EXPECT_EQ(socket_path("/srv/mail/.queue"), "/srv/mail/.queue/.control");
}
