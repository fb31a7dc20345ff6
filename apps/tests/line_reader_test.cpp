#include "apps/line_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using bm::apps::LineReader;

namespace {

// Feeds `input` in pieces of `step` bytes and collects what comes out;
// too-long lines appear as "<too long>".
std::vector<std::string> frame(std::string_view input, std::size_t step, std::size_t max_line) {
    LineReader reader(max_line);
    std::vector<std::string> lines;
    for (std::size_t at = 0; at < input.size(); at += step) {
        std::string_view piece = input.substr(at, step);
        while (!piece.empty()) {
            std::size_t taken = reader.feed(piece);
            piece.remove_prefix(taken);
            while (auto line = reader.next())
                lines.push_back(line->kind == LineReader::Kind::line ? std::string(line->text)
                                                                     : "<too long>");
        }
    }
    return lines;
}

}  // namespace

TEST(LineReader, SplitsPipelinedCommandsAtEveryBytePosition) {
    std::string input = "HELO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\n";
    for (std::size_t step = 1; step <= input.size(); ++step)
        EXPECT_EQ(frame(input, step, 1000),
                  (std::vector<std::string>{"HELO a", "MAIL FROM:<x@y>", "RCPT TO:<z@w>"}))
            << "step " << step;
}

TEST(LineReader, AcceptsBareLfAndKeepsInnerCr) {
    EXPECT_EQ(frame("NOOP\nA\rB\r\n", 3, 100), (std::vector<std::string>{"NOOP", "A\rB"}));
}

TEST(LineReader, LineOfExactlyTheLimitWithCrlfIsAccepted) {
    std::string line(998, 'x');
    EXPECT_EQ(frame(line + "\r\n", 7, 1000), (std::vector<std::string>{line}));
}

TEST(LineReader, OverLongLineIsReportedOnceAndTheNextLineSurvives) {
    std::string input = std::string(5000, 'x') + "\r\nNOOP\r\n";
    for (std::size_t step : {1u, 13u, 999u, 1000u, 6000u})
        EXPECT_EQ(frame(input, step, 1000), (std::vector<std::string>{"<too long>", "NOOP"}))
            << "step " << step;
}

TEST(LineReader, FeedIsBoundedByCapacity) {
    LineReader reader(10, 16);
    EXPECT_EQ(reader.feed(std::string(40, 'a')), 16u);
}

TEST(LineReader, RawBytesCanBeTakenUnframed) {
    LineReader reader(100);
    reader.feed("DATA\r\nbody bytes");
    auto line = reader.next();
    ASSERT_TRUE(line);
    EXPECT_EQ(line->text, "DATA");
    EXPECT_EQ(reader.raw(), "body bytes");
    reader.consume_raw(5);
    EXPECT_EQ(reader.raw(), "bytes");
}
