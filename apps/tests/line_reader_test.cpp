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

namespace {

// Frames `input` as a machine that reads segments where they lie does:
// lines straight from the segment while nothing is held, the held start
// of a cut line completed with feed_line_end.
std::vector<std::string> frame_in_place(std::string_view input, std::size_t step,
                                        std::size_t max_line) {
    LineReader reader(max_line);
    std::vector<std::string> lines;
    auto keep = [&](const LineReader::Line& line) {
        lines.push_back(line.kind == LineReader::Kind::line ? std::string(line.text) : "<too long>");
    };
    for (std::size_t at = 0; at < input.size(); at += step) {
        std::string_view segment = input.substr(at, step);
        while (!segment.empty()) {
            if (!reader.empty()) {
                segment.remove_prefix(reader.feed_line_end(segment));
                while (auto line = reader.next()) keep(*line);
                continue;
            }
            std::size_t used = 0;
            auto line = reader.next_in(segment, used);
            segment.remove_prefix(used);
            if (line) keep(*line);
        }
    }
    return lines;
}

}  // namespace

TEST(LineReader, WholeLineInTheInputIsAViewIntoIt) {
    LineReader reader(1000);
    std::string input = "NOOP\r\nQUIT\r\nHEL";
    std::size_t used = 0;
    auto line = reader.next_in(input, used);
    ASSERT_TRUE(line);
    EXPECT_EQ(line->text, "NOOP");
    EXPECT_EQ(line->text.data(), input.data());  // no copy
    EXPECT_EQ(used, 6u);
    line = reader.next_in(std::string_view(input).substr(6), used);
    ASSERT_TRUE(line);
    EXPECT_EQ(line->text, "QUIT");
    EXPECT_TRUE(reader.empty());
    // A cut line: its start is kept, and the rest completes it.
    EXPECT_FALSE(reader.next_in(std::string_view(input).substr(12), used));
    EXPECT_EQ(used, 3u);
    EXPECT_FALSE(reader.empty());
    EXPECT_EQ(reader.feed_line_end("O c\r\nNOOP\r\n"), 5u);  // not the line after it
    line = reader.next();
    ASSERT_TRUE(line);
    EXPECT_EQ(line->text, "HELO c");
}

// In place or buffered, the same lines and the same too-long reports,
// wherever the segments are cut.
TEST(LineReader, InPlaceFramingMatchesBufferedFraming) {
    std::string input = "HELO a\r\nMAIL FROM:<x@y>\nRCPT TO:<z@w>\r\n" + std::string(25, 'x') +
                        "\r\n" + std::string(9, 'y') + "\r\n\r\nA\rB\r\n" + std::string(60, 'z') +
                        "\r\nEND\r\n";
    for (std::size_t max_line : {10u, 11u, 12u, 1000u})
        for (std::size_t step = 1; step <= input.size(); ++step)
            ASSERT_EQ(frame_in_place(input, step, max_line), frame(input, step, max_line))
                << "step " << step << " max " << max_line;
}

TEST(LineReader, OverLongLineInPlaceIsReportedOnce) {
    std::string input = std::string(5000, 'x') + "\r\nNOOP\r\n";
    for (std::size_t step : {1u, 13u, 999u, 1000u, 6000u})
        EXPECT_EQ(frame_in_place(input, step, 1000), (std::vector<std::string>{"<too long>", "NOOP"}))
            << "step " << step;
}
