// The streaming header scan gives the answers of the whole-text functions
// (has_header, has_header_section) for any text cut anywhere: a spooled
// message gets the same header fill as one held whole.
#include "apps/header_scan.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/header_fill.hpp"
#include "apps/tests/lcg.hpp"

using bm::apps::has_header;
using bm::apps::has_header_section;
using bm::apps::HeaderScan;

namespace {

struct Answers {
    bool date, message_id, section, blank;
    bool operator==(const Answers&) const = default;
};

Answers whole_text(std::string_view m) {
    return {has_header(m, "Date"), has_header(m, "Message-ID"), has_header_section(m),
            m.starts_with("\r\n")};
}

Answers scanned(std::string_view m, std::size_t step) {
    HeaderScan scan;
    for (std::size_t at = 0; at < m.size(); at += step) scan.feed(m.substr(at, step));
    return {scan.has_date(), scan.has_message_id(), scan.has_header_section(),
            scan.starts_with_blank_line()};
}

void expect_same_everywhere(const std::string& m) {
    Answers want = whole_text(m);
    for (std::size_t step = 1; step <= std::max<std::size_t>(m.size(), 1); ++step)
        ASSERT_TRUE(scanned(m, step) == want) << "step " << step << " of: " << m;
    for (std::size_t cut = 0; cut <= m.size(); ++cut) {
        HeaderScan scan;
        scan.feed(std::string_view(m).substr(0, cut));
        scan.feed(std::string_view(m).substr(cut));
        Answers got{scan.has_date(), scan.has_message_id(), scan.has_header_section(),
                    scan.starts_with_blank_line()};
        ASSERT_TRUE(got == want) << "cut at " << cut << " of: " << m;
    }
}

using bm::apps::testing::Lcg;

}  // namespace

TEST(HeaderScan, AgreesWithTheWholeTextFunctionsOnKnownShapes) {
    const std::vector<std::string> shapes = {
        "",
        "\r\n",
        "\r\nDate: x\r\n",
        "Date: x\r\n\r\nbody\r\n",
        "date : x\r\nMESSAGE-ID:<a@b>\r\n\r\n",
        "Dates: x\r\nMessage-IDs: y\r\n\r\n",
        "Subject: x\r\n folded\r\n\tDate: no\r\nDate: yes\r\n\r\n",
        " Date: leading space\r\n",
        "Subject: x\r\nnot a field\r\nDate: after\r\n",
        "Subject: x\r\n\r\nDate: in the body\r\n",
        "Subject: x\r\r\nDate: y\r\n",
        "Subject: x\r\n\rDate: y\r\n",
        "just text\r\n",
        "Date",
        "Date:",
        "Message-ID\t \t: x",
        "X:\nDate: bare lf\n\n",
        "Subject: \xc3\xa9\r\nDate: x\r\n",
        "\xc3\xa9: x\r\nDate: x\r\n",
        "Subject: x\r\nDate\r\n: y\r\nMessage-ID: z\r\n",
    };
    for (const std::string& m : shapes) expect_same_everywhere(m);
}

TEST(HeaderScan, AgreesWithTheWholeTextFunctionsOnRandomTexts) {
    const std::array<std::string_view, 14> tokens = {
        "Date", "Message-ID", "message-id", "X-Y", ":", " ", "\t", "\r\n", "\n", "\r", "x", "Da", "\r\n\r\n", "."};
    Lcg random;
    for (int round = 0; round < 3000; ++round) {
        std::string m;
        std::size_t n = random.next(16);
        for (std::size_t i = 0; i < n; ++i) m += tokens[random.next(tokens.size())];
        Answers want = whole_text(m);
        for (std::size_t step : {1, 2, 3, 7}) ASSERT_TRUE(scanned(m, step) == want) << m;
    }
}

TEST(HeaderScan, OnceDoneMoreTextChangesNothing) {
    HeaderScan scan;
    scan.feed("Subject: x\r\n\r\n");
    EXPECT_TRUE(scan.done());
    scan.feed("Date: x\r\nMessage-ID: y\r\n");
    EXPECT_FALSE(scan.has_date());
    EXPECT_FALSE(scan.has_message_id());
    EXPECT_TRUE(scan.has_header_section());
}

TEST(HeaderScan, AHeaderLongerThanAnyBufferIsStillFollowed) {
    HeaderScan scan;
    for (int i = 0; i < 100000; ++i) scan.feed("X-Filler: abcdefghijklmnopqrstuvwxyz\r\n");
    EXPECT_FALSE(scan.done());
    scan.feed("Message-Id: <m@x>\r\n\r\n");
    EXPECT_TRUE(scan.done());
    EXPECT_TRUE(scan.has_message_id());
    EXPECT_FALSE(scan.has_date());
}

// The scan is over exactly where the header section ends (the CR of its
// empty line), wherever the text before it was cut.
TEST(HeaderScan, DoneExactlyAtTheEndOfTheHeaderSection) {
    const std::string header = "Subject: x\r\nDate: y\r\n folded: z\r\nMessage-ID: <m@x>\r\n";
    const std::string message = header + "\r\nDate: in the body\r\n";
    for (std::size_t cut = 0; cut <= header.size(); ++cut) {
        HeaderScan scan;
        scan.feed(std::string_view(message).substr(0, cut));
        scan.feed(std::string_view(message).substr(cut, header.size() - cut));
        ASSERT_FALSE(scan.done()) << "cut at " << cut;
        scan.feed(std::string_view(message).substr(header.size(), 1));
        ASSERT_TRUE(scan.done()) << "cut at " << cut;
        scan.feed(std::string_view(message).substr(header.size() + 1));
        EXPECT_TRUE(scan.has_date() && scan.has_message_id() && scan.has_header_section());
    }
}

namespace {

// Received: fields of `m` fed in pieces of `step`.
std::uint32_t received_in(std::string_view m, std::size_t step) {
    HeaderScan scan;
    for (std::size_t at = 0; at < m.size(); at += step) scan.feed(m.substr(at, step));
    return scan.received_fields();
}

}  // namespace

// RFC 5321 §6.3: the hop count is the Received: fields of the header
// section, whatever the case or obsolete space before the colon; folded
// lines, other fields and the body do not count.
TEST(HeaderScan, CountsReceivedFieldsOfTheHeaderSectionOnly) {
    const std::string m =
        "Received: from a\r\n\tby b; date\r\n"
        "RECEIVED: from c\r\n"
        "received : from d\r\n"
        "X-Received: no\r\n"
        "Received-SPF: no\r\n"
        "Subject: x\r\n Received: folded, no\r\n"
        "Receive: no\r\n"
        "\r\n"
        "Received: in the body\r\n";
    for (std::size_t step = 1; step <= m.size(); ++step) ASSERT_EQ(received_in(m, step), 3u) << "step " << step;
}

TEST(HeaderScan, CountsAHundredAndOneReceivedFieldsAcrossAnyCut) {
    std::string m;
    for (int i = 0; i < 101; ++i) m += "Received: from h" + std::to_string(i) + " by x; Fri, 4 Dec 2026\r\n";
    m += "Subject: loop\r\n\r\nbody\r\n";
    for (std::size_t step : {1, 2, 5, 13, 64, 4096}) EXPECT_EQ(received_in(m, step), 101u) << "step " << step;
    // A line that is no field ends the section: later ones are body.
    EXPECT_EQ(received_in("Received: a\r\nno field\r\nReceived: b\r\n", 1), 1u);
    EXPECT_EQ(received_in("\r\nReceived: a\r\n", 3), 0u);
}
