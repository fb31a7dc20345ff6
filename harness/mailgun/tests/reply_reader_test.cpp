#include "harness/mailgun/reply_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bm::mailgun {
namespace {

// Feeds `stream` cut into pieces of `piece` octets; returns each reply's
// end offset and class.
std::vector<std::pair<std::size_t, std::string>> smtp_replies(std::string_view stream, std::size_t piece) {
    SmtpReplyReader reader;
    std::vector<std::pair<std::size_t, std::string>> out;
    std::size_t offset = 0;
    while (offset < stream.size()) {
        std::string_view chunk = stream.substr(offset, piece);
        std::size_t taken = 0;
        while (taken < chunk.size()) {
            taken += reader.feed(chunk.substr(taken));
            if (reader.ready()) out.emplace_back(offset + taken, reply_class(reader.take()));
        }
        offset += chunk.size();
    }
    return out;
}

TEST(SmtpReplyReader, MultiLineRepliesEndAtTheLineWithoutHyphenAtEveryCut) {
    std::string stream = "220 hi\r\n250-a\r\n250-PIPELINING\r\n250 SIZE\r\n550 5.1.1 no\r\n";
    for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
        auto replies = smtp_replies(stream, piece);
        ASSERT_EQ(replies.size(), 3u) << piece;
        EXPECT_EQ(replies[0], std::make_pair(std::size_t{8}, std::string("2xx")));
        EXPECT_EQ(replies[1].first, 41u);
        EXPECT_EQ(replies[2], std::make_pair(stream.size(), std::string("5xx")));
    }
}

TEST(SmtpReplyReader, GarbledLineIsAReplyOfItsOwn) {
    SmtpReplyReader reader;
    std::string_view s = "hello\r\n";
    EXPECT_EQ(reader.feed(s), s.size());
    ASSERT_TRUE(reader.ready());
    SmtpReply r = reader.take();
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(reply_class(r), "garbled");
}

TEST(SmtpReplyReader, ContinuationWithAnotherCodeIsGarbled) {
    SmtpReplyReader reader;
    reader.feed("250-a\r\n251 b\r\n");
    ASSERT_TRUE(reader.ready());
    EXPECT_EQ(reader.take().code, 0);
}

TEST(Pop3ResponseReader, RetrBodyEndsOnlyAtALoneDotLineAtEveryCut) {
    // A stuffed "..x" line and a line "x." must not end the body.
    std::string stream = "+OK ready\r\n+OK 3 octets\r\n..x\r\nx.\r\n.\r\n-ERR no such message\r\n+OK bye\r\n";
    for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
        Pop3ResponseReader reader;
        reader.expect_greeting();
        reader.expect_reply_to("RETR 1");
        reader.expect_reply_to("RETR 9");
        reader.expect_reply_to("QUIT");
        std::vector<std::pair<std::size_t, std::string>> got;
        for (std::size_t offset = 0; offset < stream.size(); offset += piece) {
            std::string_view chunk = std::string_view(stream).substr(offset, piece);
            std::size_t taken = 0;
            while (taken < chunk.size()) {
                taken += reader.feed(chunk.substr(taken));
                if (reader.ready()) got.emplace_back(offset + taken, reply_class(reader.take()));
            }
        }
        ASSERT_EQ(got.size(), 4u) << piece;
        EXPECT_EQ(got[0].first, 11u);
        EXPECT_EQ(got[1], std::make_pair(stream.find("-ERR"), std::string("+OK"))) << piece;
        EXPECT_EQ(got[2].second, "-ERR");
        EXPECT_EQ(got[3], std::make_pair(stream.size(), std::string("+OK")));
    }
}

TEST(Pop3ResponseReader, ErrToAMultiLineCommandHasNoBody) {
    Pop3ResponseReader reader;
    reader.expect_reply_to("LIST");
    reader.expect_reply_to("NOOP");
    std::string_view s = "-ERR not now\r\n+OK\r\n";
    std::size_t taken = reader.feed(s);
    ASSERT_TRUE(reader.ready());
    EXPECT_EQ(reader.take().status, Pop3Response::Status::err);
    taken += reader.feed(s.substr(taken));
    ASSERT_TRUE(reader.ready());
    EXPECT_EQ(taken, s.size());
}

TEST(Pop3Multiline, CommandsWithBodiesPerRfc1939AndRfc2449) {
    EXPECT_TRUE(pop3_multiline("RETR 1"));
    EXPECT_TRUE(pop3_multiline("top 1 0"));
    EXPECT_TRUE(pop3_multiline("CAPA"));
    EXPECT_TRUE(pop3_multiline("LIST"));
    EXPECT_FALSE(pop3_multiline("LIST 1"));
    EXPECT_TRUE(pop3_multiline("UIDL"));
    EXPECT_FALSE(pop3_multiline("UIDL 2"));
    EXPECT_FALSE(pop3_multiline("STAT"));
    EXPECT_FALSE(pop3_multiline("TOPX 1"));
}

}  // namespace
}  // namespace bm::mailgun
