#include <gtest/gtest.h>

#include "store/message_text.hpp"

using namespace bm::store;

TEST(MessageText, BareLfBecomesCrlfAndCrlfStays) {
    EXPECT_EQ(to_crlf("a\nb\r\nc\n"), "a\r\nb\r\nc\r\n");
}

TEST(MessageText, MissingFinalLineEndIsAdded) {
    EXPECT_EQ(to_crlf("a\r\nb"), "a\r\nb\r\n");
    EXPECT_EQ(to_crlf(""), "");
}

TEST(MessageText, CrlfToLfKeepsLoneCr) {
    EXPECT_EQ(crlf_to_lf("a\r\nb\rc\r\n"), "a\nb\rc\n");
}

TEST(MessageText, TopGivesHeaderBlankLineAndNBodyLines_Rfc1939Top) {
    std::string m = "Subject: x\r\nFrom: y\r\n\r\nl1\r\nl2\r\nl3\r\n";
    EXPECT_EQ(top_of_message(m, 0), "Subject: x\r\nFrom: y\r\n\r\n");
    EXPECT_EQ(top_of_message(m, 2), "Subject: x\r\nFrom: y\r\n\r\nl1\r\nl2\r\n");
    EXPECT_EQ(top_of_message(m, 99), m);
}

TEST(MessageText, TopOfMessageWithoutBodyIsWholeMessage) {
    EXPECT_EQ(top_of_message("Subject: x\r\n", 3), "Subject: x\r\n");
}
