// The span reader of DATA gives exactly what an octet-at-a-time reading of
// RFC 5321 §4.1.1.4 / §4.5.2 / §2.3.8 gives: the same message octets, the
// same end, the same bare CR/LF verdict, wherever the input is cut.
#include "apps/data_reader.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "apps/tests/lcg.hpp"

using bm::apps::DataReader;

namespace {

struct Read {
    std::string octets;
    std::size_t consumed = 0;  // input octets up to and including the final CRLF
    bool end = false;
    bool bare = false;
    bool operator==(const Read&) const = default;
};

// The rules one octet at a time, as the receiver read them before spans.
Read octet_at_a_time(std::string_view input) {
    enum class State { line_start, dot, dot_cr, text, cr } state = State::line_start;
    Read read;
    for (char c : input) {
        ++read.consumed;
        switch (state) {
            case State::line_start:
                if (c == '.') {
                    state = State::dot;
                    continue;
                }
                break;
            case State::dot:
                if (c == '\r') {
                    state = State::dot_cr;
                    continue;
                }
                break;
            case State::dot_cr:
                if (c == '\n') {
                    read.end = true;
                    return read;
                }
                read.bare = true;
                read.octets += '\r';
                break;
            case State::cr:
                if (c == '\n') {
                    read.octets += "\r\n";
                    state = State::line_start;
                    continue;
                }
                read.bare = true;
                read.octets += '\r';
                break;
            case State::text:
                break;
        }
        if (c == '\r') {
            state = State::cr;
            continue;
        }
        if (c == '\n') read.bare = true;
        read.octets += c;
        state = State::text;
    }
    return read;
}

// The input offered to one reader in the given segments, each read piece
// by piece as the receiver does.
Read in_segments(std::string_view input, const std::vector<std::size_t>& cuts) {
    DataReader reader;
    Read read;
    std::size_t from = 0;
    for (std::size_t i = 0; i <= cuts.size() && !read.end; ++i) {
        std::size_t to = i < cuts.size() ? cuts[i] : input.size();
        std::string_view segment = input.substr(from, to - from);
        while (!segment.empty() && !read.end) {
            DataReader::Piece piece = reader.next(segment);
            EXPECT_LE(piece.consumed, segment.size());
            read.octets += piece.octets;
            read.consumed += piece.consumed;
            read.end = piece.end;
            segment.remove_prefix(piece.consumed);
        }
        from = to;
    }
    read.bare = reader.bare_newline();
    return read;
}

Read whole(std::string_view input) { return in_segments(input, {}); }

// Every single cut, and every fixed step, gives the octet-at-a-time answer.
void expect_same_everywhere(const std::string& input) {
    Read want = octet_at_a_time(input);
    ASSERT_TRUE(whole(input) == want) << "whole: " << input;
    for (std::size_t cut = 0; cut <= input.size(); ++cut)
        ASSERT_TRUE(in_segments(input, {cut}) == want) << "cut at " << cut << " of: " << input;
    for (std::size_t step = 1; step <= 9 && step < input.size(); ++step) {
        std::vector<std::size_t> cuts;
        for (std::size_t at = step; at < input.size(); at += step) cuts.push_back(at);
        ASSERT_TRUE(in_segments(input, cuts) == want) << "step " << step << " of: " << input;
    }
}

using bm::apps::testing::Lcg;

}  // namespace

TEST(DataReader, CleanLinesComeOutAsOneSpanOfTheInput) {
    std::string input = "Subject: x\r\n\r\nline one\r\nline two\r\n";
    DataReader reader;
    DataReader::Piece piece = reader.next(input);
    EXPECT_EQ(piece.octets, input);
    EXPECT_EQ(piece.octets.data(), input.data());  // no copy
    EXPECT_EQ(piece.consumed, input.size());
    EXPECT_FALSE(piece.end);
}

TEST(DataReader, EndOfDataStopsAtTheFinalCrlf) {
    std::string input = "a\r\nb\r\n.\r\nNOOP\r\n";
    Read read = whole(input);
    EXPECT_EQ(read.octets, "a\r\nb\r\n");
    EXPECT_TRUE(read.end);
    EXPECT_EQ(read.consumed, input.size() - 6);  // NOOP is the next command's
    EXPECT_FALSE(read.bare);
}

TEST(DataReader, EmptyMessageEndsAtTheFirstLine) {
    Read read = whole(".\r\nQUIT\r\n");
    EXPECT_TRUE(read.end);
    EXPECT_EQ(read.consumed, 3u);
    EXPECT_EQ(read.octets, "");
}

// RFC 5321 §4.5.2: the leading dot goes, wherever the line falls.
TEST(DataReader, StuffedDotsAreRemovedAtSegmentBoundaries) {
    for (const std::string input :
         {"..\r\n.\r\n", "a\r\n..b\r\n...\r\n.\r\n", "..\r\n..\r\n..\r\n.\r\n", ".x\r\n.\r\n",
          "a\r\n.\r\n"}) {
        expect_same_everywhere(input);
        EXPECT_TRUE(octet_at_a_time(input).end) << input;
    }
    EXPECT_EQ(whole("a\r\n..b\r\n...\r\n.\r\n").octets, "a\r\n.b\r\n..\r\n");
}

TEST(DataReader, CrDotLfSplitAcrossCallsStillEndsTheData) {
    std::string input = "text\r\n.\r\n";
    for (std::size_t a = 0; a <= input.size(); ++a)
        for (std::size_t b = a; b <= input.size(); ++b) {
            Read read = in_segments(input, {a, b});
            EXPECT_TRUE(read.end) << a << " " << b;
            EXPECT_EQ(read.octets, "text\r\n") << a << " " << b;
        }
}

// RFC 5321 §2.3.8: none of these ends the data; each is a bare CR or LF.
TEST(DataReader, BareCrAndLfNeverEndTheDataAndAreNoticed) {
    for (const std::string input :
         {"a\n.\n", "a\r.\r", "a\r\n.\n", "a\n.\r\n", "a\rb\r\n", "a\nb\r\n", ".\r.\r\n",
          "a\r\r\n", "\n", "\r\r", ".\rx", "a\r\n.\r\r\n"}) {
        expect_same_everywhere(input);
        Read read = whole(input);
        EXPECT_TRUE(read.bare) << input;
        EXPECT_FALSE(read.end) << input;
    }
}

TEST(DataReader, BareLfThenRealEndOfData) {
    std::string input = "smuggled\n.\r\nrest\r\n.\r\n";
    expect_same_everywhere(input);
    Read read = whole(input);
    EXPECT_TRUE(read.bare);
    EXPECT_TRUE(read.end);
    EXPECT_EQ(read.octets, "smuggled\n.\r\nrest\r\n");  // the dot after a bare LF is text
}

TEST(DataReader, CrAtTheEndOfASegmentWaitsForTheNext) {
    DataReader reader;
    DataReader::Piece piece = reader.next("abc\r");
    EXPECT_EQ(piece.octets, "abc");
    EXPECT_EQ(piece.consumed, 4u);
    piece = reader.next("\n.\r\n");
    EXPECT_EQ(piece.octets, "\r\n");
    EXPECT_EQ(piece.consumed, 1u);
    EXPECT_FALSE(reader.bare_newline());
}

TEST(DataReader, ResetStartsANewMessage) {
    DataReader reader;
    reader.next("a\nb");
    ASSERT_TRUE(reader.bare_newline());
    reader.reset();
    EXPECT_FALSE(reader.bare_newline());
    EXPECT_TRUE(reader.next(".\r\n").consumed == 1);  // at a line start again
}

// Texts made of the octets that matter, in every arrangement a short
// random walk finds, cut everywhere.
TEST(DataReader, RandomTextsMatchOctetAtATimeReadingWhereverCut) {
    Lcg lcg{0x2545f4914f6cdd1dULL};
    const char alphabet[] = {'.', '\r', '\n', 'a', '.', '\r', '\n'};
    for (int round = 0; round < 3000; ++round) {
        std::string input;
        std::size_t length = 1 + lcg.next(24);
        for (std::size_t i = 0; i < length; ++i) input += alphabet[lcg.next(sizeof alphabet)];
        expect_same_everywhere(input);
    }
}

// Long lines and many of them, as a real message: every cut of a long
// text against a few segment sizes.
TEST(DataReader, LongTextMatchesOctetAtATimeReading) {
    Lcg lcg{0x2545f4914f6cdd1dULL};
    std::string input;
    for (int line = 0; line < 400; ++line) {
        if (lcg.next(5) == 0) input += '.';
        input += std::string(lcg.next(120), static_cast<char>('a' + line % 26));
        input += lcg.next(50) == 0 ? "\n" : "\r\n";
    }
    input += ".\r\n";
    Read want = octet_at_a_time(input);
    ASSERT_TRUE(want.end);
    for (std::size_t step : {1u, 2u, 3u, 77u, 1460u, 4000u, 100000u}) {
        std::vector<std::size_t> cuts;
        for (std::size_t at = step; at < input.size(); at += step) cuts.push_back(at);
        EXPECT_TRUE(in_segments(input, cuts) == want) << "step " << step;
    }
}
