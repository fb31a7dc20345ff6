// The streaming mboxrd quoter gives, for any text cut anywhere, what the
// whole-text conversion gives: CRLF -> LF, ^>*From  one '>' more, a final LF.
#include "store/mbox_quoter.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

#include "store/mbox.hpp"
#include "store/message_text.hpp"

using bm::store::mbox::Quoter;

namespace {

// The conversion on the whole text, line by line: the definition.
std::string quoted_whole(std::string_view crlf) {
    std::string lf = bm::store::crlf_to_lf(crlf);
    std::string out;
    std::string_view rest = lf;
    while (!rest.empty()) {
        auto eol = rest.find('\n');
        std::string_view line = rest.substr(0, eol == std::string_view::npos ? rest.size() : eol + 1);
        std::size_t gt = line.find_first_not_of('>');
        if (gt != std::string_view::npos && line.substr(gt).starts_with("From ")) out.push_back('>');
        out.append(line);
        rest.remove_prefix(line.size());
    }
    if (!out.empty() && out.back() != '\n') out.push_back('\n');
    return out;
}

std::string quoted_in_steps(std::string_view crlf, std::size_t step) {
    Quoter quoter;
    std::string out;
    for (std::size_t at = 0; at < crlf.size(); at += step) quoter.feed(crlf.substr(at, step), out);
    quoter.finish(out);
    return out;
}

struct Lcg {
    std::uint64_t state = 0x2545f4914f6cdd1dULL;
    std::size_t next(std::size_t bound) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::size_t>(state >> 33) % bound;
    }
};

}  // namespace

TEST(MboxQuoter, KnownShapesAtEveryCut) {
    for (std::string text : {"", "\r\n", "From x\r\n", ">From x\r\n", ">>>From x", "From",
                             "From\r\nFromage\r\n From\r\n", "a\r\rb\r\n\r", "x\r\n>\r\n>Fro",
                             "\r\nFrom \r\n>From\r\n", "no end", "lone\ncr\rlf\r\n"}) {
        std::string want = quoted_whole(text);
        for (std::size_t step = 1; step <= std::max<std::size_t>(text.size(), 1); ++step)
            ASSERT_EQ(quoted_in_steps(text, step), want) << "step " << step << " of " << text;
    }
}

TEST(MboxQuoter, RandomTextsInRandomPieces) {
    const std::array<std::string_view, 10> tokens = {"From ", ">", "\r\n", "\r", "\n", "x",
                                                      "Fro", "From", " ", ">From "};
    Lcg random;
    for (int round = 0; round < 5000; ++round) {
        std::string text;
        for (std::size_t n = random.next(20); n > 0; --n) text += tokens[random.next(tokens.size())];
        std::string want = quoted_whole(text);
        for (std::size_t step : {1, 2, 3, 5, 8})
            ASSERT_EQ(quoted_in_steps(text, step), want) << text;
    }
}

TEST(MboxQuoter, AVeryLongRunOfGreaterThanSignsIsPassedOnAsItComes) {
    Quoter quoter;
    std::string out;
    quoter.feed(std::string(1 << 20, '>'), out);
    EXPECT_EQ(out.size(), std::size_t(1) << 20);  // nothing held back
    quoter.feed("From x\r\n", out);
    quoter.finish(out);
    EXPECT_EQ(out, std::string((1 << 20) + 1, '>') + "From x\n");
}
