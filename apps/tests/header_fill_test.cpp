// Received:/Date:/Message-ID: preparation (RFC 5321 §4.4, RFC 5322 §3.6).
#include "apps/header_fill.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

using bm::apps::Arrival;
using bm::apps::has_header;
using bm::apps::has_header_section;
using bm::apps::header_prefix;
using bm::apps::received_header;
using bm::apps::Recipient;
using bm::apps::rfc5322_date;

namespace {

constexpr std::time_t fixed_time = 1700000000;  // Tue, 14 Nov 2023 22:13:20 UTC
const std::string fixed_date = "Tue, 14 Nov 2023 22:13:20 +0000";

Arrival arrival(const std::vector<Recipient>& recipients, bool esmtp = true) {
    return Arrival{"client.example", "10.99.0.1", "mx.example", esmtp, "0.1.1", recipients,
                   fixed_time};
}

}  // namespace

TEST(HeaderFill, DateIsRfc5322WithNumericZone) {
    EXPECT_EQ(rfc5322_date(fixed_time), fixed_date);
    EXPECT_EQ(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
}

// Computed without gmtime or a locale: the same text as the C library's
// UTC calendar gives, across leap days, century years and before 1970.
TEST(HeaderFill, DateMatchesTheCLibraryCalendar) {
    auto reference = [](std::time_t when) {
        static const char* const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        std::tm tm{};
        gmtime_r(&when, &tm);
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s, %d %s %d %02d:%02d:%02d +0000", days[tm.tm_wday],
                      tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                      tm.tm_sec);
        return std::string(buf);
    };
    const std::time_t from = -2208988800;  // 1900-01-01
    const std::time_t to = 13569465600;    // 2400-01-01
    for (std::time_t when = from; when < to; when += 86400 * 3 + 3607)
        ASSERT_EQ(rfc5322_date(when), reference(when)) << when;
    // Leap days of 1972, 2000 and 2024 and either side of them, 2100 (no
    // leap day), the last seconds before 1970.
    const std::vector<std::time_t> edges = {951782400, 951868799, 951868800, 4107542400,
                                            4107456000, -1, -86401, 68169600, 1709164800};
    for (std::time_t when : edges)
        EXPECT_EQ(rfc5322_date(when), reference(when)) << when;
}

TEST(HeaderFill, ReceivedForClauseWithExactlyOneRecipient) {
    std::vector<Recipient> one = {{"alice@localhost", "alice"}};
    EXPECT_EQ(received_header(arrival(one)),
              "Received: from client.example ([10.99.0.1])\r\n"
              "\tby mx.example (baremail) with ESMTP id 0.1.1\r\n"
              "\tfor <alice@localhost>; " + fixed_date + "\r\n");
}

TEST(HeaderFill, ReceivedHasNoForClauseWithSeveralRecipients) {
    std::vector<Recipient> two = {{"alice@localhost", "alice"}, {"bob@localhost", "bob"}};
    EXPECT_EQ(received_header(arrival(two)),
              "Received: from client.example ([10.99.0.1])\r\n"
              "\tby mx.example (baremail) with ESMTP id 0.1.1; " + fixed_date + "\r\n");
}

// RFC 5321 §4.4: TCP-info comes from the connection, never from the EHLO
// argument (the client's own claim): the address literal, after the
// client's verified reverse-DNS name when there is one.
TEST(HeaderFill, Rfc5321_4_4_TcpInfoIsTheConnectionsAddressNotTheEhloName) {
    std::vector<Recipient> two = {{"alice@localhost", "alice"}, {"bob@localhost", "bob"}};
    Arrival a = arrival(two);
    a.helo = "forged.example";
    EXPECT_EQ(received_header(a).substr(0, 45), "Received: from forged.example ([10.99.0.1])\r\n");
    a.client_name = "host7.client.example";
    EXPECT_EQ(received_header(a).substr(0, 66),
              "Received: from forged.example (host7.client.example [10.99.0.1])\r\n");
}

TEST(HeaderFill, Rfc5321_4_4_NoHeloNameGivesTheAddressLiteralAsFromDomain) {
    std::vector<Recipient> two = {{"alice@localhost", "alice"}, {"bob@localhost", "bob"}};
    Arrival a = arrival(two);
    a.helo = "";
    EXPECT_EQ(received_header(a).substr(0, 42), "Received: from [10.99.0.1] ([10.99.0.1])\r\n");
}

TEST(HeaderFill, ReceivedSaysSmtpForHeloSessions) {
    std::vector<Recipient> one = {{"alice@localhost", "alice"}};
    EXPECT_NE(received_header(arrival(one, false)).find(" with SMTP id "), std::string::npos);
}

TEST(HeaderFill, HeaderNamesAreCaseInsensitive) {
    std::string message = "SUBJECT: x\r\ndate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\n";
    EXPECT_TRUE(has_header(message, "Date"));
    EXPECT_TRUE(has_header(message, "subject"));
    EXPECT_FALSE(has_header(message, "Message-ID"));
}

TEST(HeaderFill, HeaderSearchStopsAtTheEmptyLine) {
    std::string message = "Subject: x\r\n\r\nDate: in the body\r\nMessage-ID: <also@body>\r\n";
    EXPECT_FALSE(has_header(message, "Date"));
    EXPECT_FALSE(has_header(message, "Message-ID"));
}

TEST(HeaderFill, FoldedFieldsAreSkippedNotMistakenForNames) {
    std::string message = "Subject: a\r\n Date: folded\r\nX: y\r\n\r\n";
    EXPECT_FALSE(has_header(message, "Date"));
    EXPECT_TRUE(has_header(message, "X"));
}

TEST(HeaderFill, WhiteSpaceBeforeColonStillNamesTheField) {
    EXPECT_TRUE(has_header("Date : x\r\n\r\n", "Date"));
    EXPECT_FALSE(has_header("Dates: x\r\n\r\n", "Date"));
}

TEST(HeaderFill, MissingDateAndMessageIdAreAdded) {
    std::vector<Recipient> one = {{"alice@localhost", "alice"}};
    std::string message = "Subject: hi\r\n\r\nbody\r\n";
    EXPECT_EQ(header_prefix(arrival(one), message),
              received_header(arrival(one)) + "Date: " + fixed_date +
                  "\r\nMessage-ID: <0.1.1@mx.example>\r\n");
}

TEST(HeaderFill, PresentDateAndMessageIdAreKept) {
    std::vector<Recipient> one = {{"alice@localhost", "alice"}};
    std::string message = "Message-Id: <x@y>\r\nDATE: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nb\r\n";
    EXPECT_EQ(header_prefix(arrival(one), message), received_header(arrival(one)));
}

TEST(HeaderFill, MessageWithoutHeaderSectionGetsHeadersAndSeparator) {
    std::vector<Recipient> one = {{"alice@localhost", "alice"}};
    std::string expected = received_header(arrival(one)) + "Date: " + fixed_date +
                           "\r\nMessage-ID: <0.1.1@mx.example>\r\n\r\n";
    EXPECT_FALSE(has_header_section("just text\r\n"));
    EXPECT_EQ(header_prefix(arrival(one), "just text\r\n"), expected);
    EXPECT_EQ(header_prefix(arrival(one), ""), expected);
}

TEST(HeaderFill, EmptyHeaderSectionNeedsNoExtraSeparator) {
    std::vector<Recipient> one = {{"alice@localhost", "alice"}};
    EXPECT_EQ(header_prefix(arrival(one), "\r\nbody\r\n"),
              received_header(arrival(one)) + "Date: " + fixed_date +
                  "\r\nMessage-ID: <0.1.1@mx.example>\r\n");
}

TEST(HeaderFill, HeaderOnlyMessageWithoutEmptyLine) {
    std::vector<Recipient> one = {{"alice@localhost", "alice"}};
    EXPECT_TRUE(has_header("Subject: x\r\nDate: y", "date"));
    EXPECT_EQ(header_prefix(arrival(one), "Subject: x\r\nDate: y\r\nMessage-ID: <a@b>\r\n"),
              received_header(arrival(one)));
}
