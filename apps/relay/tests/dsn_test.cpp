// The RFC 3464 bounce built from fixed inputs.
#include "apps/relay/dsn.hpp"

#include <gtest/gtest.h>

using namespace bm::apps;

namespace {

BounceInput input() {
    BounceInput in;
    in.hostname = "mx.example";
    in.sender = "alice@mx.example";
    in.queue_id = "q1";
    in.arrival = 1700000000;
    in.now = 1700003600;
    in.unique = "t.bounce.1";
    in.failed = {{"far@example.com", "550 5.1.1 <far@example.com>: no such user"},
                 {"dead@example.net", "cannot connect: Connection refused"}};
    in.original = "Subject: hello\r\nFrom: alice@mx.example\r\n\r\nsecret body\r\n";
    return in;
}

}  // namespace

TEST(Dsn, Rfc3464_IsAMultipartReportFromTheMailerDaemon) {
    std::string dsn = build_dsn(input());
    EXPECT_NE(dsn.find("From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("To: <alice@mx.example>\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("Content-Type: multipart/report; report-type=delivery-status;\r\n"
                       "\tboundary=\"t.bounce.1/mx.example\"\r\n"),
              std::string::npos);
    EXPECT_NE(dsn.find("Date: Tue, 14 Nov 2023 23:13:20 +0000\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("Content-Type: message/delivery-status\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("Reporting-MTA: dns; mx.example\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"), std::string::npos);
    EXPECT_TRUE(dsn.ends_with("\r\n--t.bounce.1/mx.example--\r\n"));
}

TEST(Dsn, Rfc3464_2_3_OneBlockPerFailedRecipient) {
    std::string dsn = build_dsn(input());
    EXPECT_NE(dsn.find("Final-Recipient: rfc822; far@example.com\r\nAction: failed\r\n"
                       "Status: 5.1.1\r\n"
                       "Diagnostic-Code: smtp; 550 5.1.1 <far@example.com>: no such user\r\n"),
              std::string::npos);
    EXPECT_NE(dsn.find("Final-Recipient: rfc822; dead@example.net\r\nAction: failed\r\n"
                       "Status: 4.4.1\r\n"
                       "Diagnostic-Code: x-baremail; cannot connect: Connection refused\r\n"),
              std::string::npos);
}

TEST(Dsn, Rfc6522_CarriesTheOriginalHeaderOnly) {
    std::string dsn = build_dsn(input());
    EXPECT_NE(dsn.find("Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\n"
                       "From: alice@mx.example\r\n\r\n--"),
              std::string::npos);
    EXPECT_EQ(dsn.find("secret body"), std::string::npos);
}

TEST(Dsn, HeaderValuesCannotInjectFields) {
    BounceInput in = input();
    in.sender = "a@b\r\nBcc: evil@x";
    std::string dsn = build_dsn(in);
    EXPECT_EQ(dsn.find("\r\nBcc:"), std::string::npos);
}

TEST(Dsn, Rfc3463_StatusFromTheReply) {
    EXPECT_EQ(status_of("550 5.7.1 denied"), "5.7.1");
    EXPECT_EQ(status_of("451 4.3.0 later"), "4.3.0");
    EXPECT_EQ(status_of("550 denied"), "5.0.0");
    EXPECT_EQ(status_of("421 busy"), "4.0.0");
    EXPECT_EQ(status_of("550 4.1.1 mismatched class"), "5.0.0");
    EXPECT_EQ(status_of("5.1.2 domain not found"), "5.1.2");
    EXPECT_EQ(status_of("timeout"), "4.4.1");
}

TEST(Dsn, Rfc3464_2_3_3_DelayWarningSaysDelayedAndWhenItGivesUp) {
    BounceInput in = input();
    in.delayed = true;
    in.retry_until = 1700432000;
    in.failed = {{"slow@example.com", "451 4.3.0 try later"}};
    std::string dsn = build_dsn(in);
    EXPECT_NE(dsn.find("Subject: Delayed Mail (still being retried)\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("THIS IS A WARNING ONLY."), std::string::npos);
    EXPECT_NE(dsn.find("Final-Recipient: rfc822; slow@example.com\r\n"
                       "Action: delayed\r\n"
                       "Status: 4.3.0\r\n"),
              std::string::npos);
    EXPECT_NE(dsn.find("Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n"), std::string::npos);
    EXPECT_EQ(dsn.find("Action: failed"), std::string::npos);
    EXPECT_EQ(dsn.find("Undelivered Mail"), std::string::npos);
}

TEST(Dsn, Rfc3464_2_3_8_ABounceHasNoWillRetryUntil) {
    std::string dsn = build_dsn(input());
    EXPECT_EQ(dsn.find("Will-Retry-Until"), std::string::npos);
    EXPECT_EQ(dsn.find("Action: delayed"), std::string::npos);
}
