// The piecewise mbox scan and rewrite against the whole-file functions
// (mbox::parse, mbox::message_text, hex_md5), with pieces cut anywhere,
// and the heap of a POP3 session on a big mbox.
#include <gtest/gtest.h>

#include <algorithm>
#include <fcntl.h>
#include <random>
#include <unistd.h>

#include "harness/testing/heap_meter.hpp"
#include "store/digest.hpp"
#include "store/file_io.hpp"
#include "store/maildrop.hpp"
#include "store/mbox_scan.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;
namespace heap = bm::heap;

namespace {

// Piece sizes that cut "From ", LFs and '>' runs at every position.
const std::vector<std::size_t> small_pieces = {1, 2, 3, 4, 5, 6, 7, 13, 64, mbox::scan_piece};

// What the snapshot computed before the scan: everything from the whole file.
mbox::Scan whole_file_scan(const std::string& file) {
    mbox::Scan want;
    want.size = file.size();
    want.digest = hex_md5({file});
    for (const auto& m : mbox::parse(file)) {
        std::string_view from(file.data() + m.start, m.text_start - m.start);
        std::string_view stored(file.data() + m.text_start, m.text_end - m.text_start);
        want.messages.push_back({m, mbox::message_text(stored).size(), hex_md5({from, stored})});
    }
    return want;
}

void expect_same(const mbox::Scan& got, const mbox::Scan& want, const std::string& what) {
    EXPECT_EQ(got.size, want.size) << what;
    EXPECT_EQ(got.digest, want.digest) << what;
    ASSERT_EQ(got.messages.size(), want.messages.size()) << what;
    for (std::size_t i = 0; i < got.messages.size(); ++i) {
        const auto &g = got.messages[i], &w = want.messages[i];
        EXPECT_EQ(g.where.start, w.where.start) << what << " #" << i;
        EXPECT_EQ(g.where.text_start, w.where.text_start) << what << " #" << i;
        EXPECT_EQ(g.where.text_end, w.where.text_end) << what << " #" << i;
        EXPECT_EQ(g.where.end, w.where.end) << what << " #" << i;
        EXPECT_EQ(g.size, w.size) << what << " #" << i;
        EXPECT_EQ(g.md5, w.md5) << what << " #" << i;
    }
}

// Scans `file` with every small piece size and compares.
void check_scan(const TempDir& dir, const std::string& file) {
    write_text(dir / "box", file);
    UniqueFd fd(::open((dir / "box").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    mbox::Scan want = whole_file_scan(file);
    for (std::size_t piece : small_pieces) {
        mbox::Scan got;
        ASSERT_EQ(mbox::scan(fd.get(), got, piece), 0);
        expect_same(got, want, "piece " + std::to_string(piece) + " of \"" + file + "\"");
    }
}

const std::string from_a = "From a@b Mon Jan  1 00:00:00 2024\n";

const std::vector<std::string> varied_mboxes = {
    "",
    "preamble only\n",
    "\n\n",
    from_a,                                   // From_ line and nothing else
    "From a@b",                               // ... without its LF
    "From",                                   // too short to be one
    "x\nFrom",
    from_a + "Subject: x\n\nbody\n\n",
    from_a + "Subject: x\n\n>From quoted\n>>From twice\nFrom bare\n>Fro not\n\n",
    from_a + "a\n\n" + from_a + "a\n\n" + from_a + "a\n\n",  // identical copies
    from_a + "no final newline",
    from_a + "ends in one LF\n" + from_a + "next\n",
    from_a + "not after a blank line\nFrom b Tue\nstill a message\n",
    from_a + from_a + "\n" + from_a + "\n\n",  // empty texts
    "pre\nFrom\nFrom \nFrom x\n\n",
    from_a + "crlf\r\n\r\nbody\r\n\r\n" + from_a + ">>>>>>>>>>From deep\n\n",
    from_a + "trailing gt >\n>\n>>\n>From",
};

TEST(MboxScan, EqualsWholeFileFunctionsOnVariedMboxes) {
    TempDir dir;
    for (const auto& file : varied_mboxes) check_scan(dir, file);
}

TEST(MboxScan, EqualsWholeFileFunctionsOnRandomMboxes) {
    TempDir dir;
    // Tokens that make From_ lines, quoted lines, blank lines and cuts.
    const std::vector<std::string> tokens = {"From ", ">",  "\n", "\n\n",
                                             "x",     "\r", "Fr", "From a\n"};
    std::mt19937 rng(20240601);
    for (int round = 0; round < 200; ++round) {
        std::string file;
        std::size_t n = rng() % 60;
        for (std::size_t i = 0; i < n; ++i) file += tokens[rng() % tokens.size()];
        check_scan(dir, file);
        if (HasFailure()) return;
    }
}

TEST(MboxScan, Md5PrefixAndCopyRangesInSmallPieces) {
    TempDir dir;
    std::string file = varied_mboxes[12] + varied_mboxes[8];
    write_text(dir / "box", file);
    UniqueFd in(::open((dir / "box").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(in.valid());
    for (std::size_t piece : small_pieces) {
        std::string hex;
        ASSERT_EQ(mbox::md5_prefix(in.get(), 40, hex, piece), 0);
        EXPECT_EQ(hex, hex_md5({std::string_view(file).substr(0, 40)}));
        EXPECT_EQ(mbox::md5_prefix(in.get(), file.size() + 1, hex, piece), EIO);

        std::string out = dir / ("out" + std::to_string(piece));
        UniqueFd to(::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        std::vector<mbox::Range> ranges = {{3, 20}, {0, 2}, {30, file.size()}};
        ASSERT_EQ(mbox::copy_ranges(in.get(), to.get(), ranges, piece), 0);
        EXPECT_EQ(read_text(out), file.substr(3, 17) + file.substr(0, 2) + file.substr(30));
        EXPECT_EQ(mbox::copy_ranges(in.get(), to.get(), {{0, file.size() + 1}}, piece), EIO);
    }
}

// A POP3 session on `path` through Pop3Maildrop itself.
struct Session {
    Pop3Maildrop drop;
    Status open(const TempDir& dir, const std::string& path) {
        if (Status s = drop.lock(dir / ".pop3.lock"); s != Status::ok) return s;
        return drop.snapshot(Mailbox{MailboxKind::mbox, path});
    }
};

// What commit wrote before: the whole file rebuilt from mbox::parse.
std::string whole_file_without(const std::string& snapped, const std::string& appended,
                               const std::vector<std::uint32_t>& deleted) {
    auto messages = mbox::parse(snapped);
    std::string out = snapped.substr(0, messages.empty() ? snapped.size() : messages[0].start);
    for (std::uint32_t i = 0; i < messages.size(); ++i)
        if (std::find(deleted.begin(), deleted.end(), i) == deleted.end())
            out += snapped.substr(messages[i].start, messages[i].end - messages[i].start);
    return out + appended;
}

TEST(MboxScan, MaildropEntriesAndCommitEqualWholeFileResults) {
    TempDir dir;
    std::string box = dir / "carol.mbox";
    std::string file = "preamble\n\n" + varied_mboxes[9] + varied_mboxes[8] + varied_mboxes[10];
    std::string appended = "\n\n" + from_a + "late\n\n";
    write_text(box, file);
    Session s;
    ASSERT_EQ(s.open(dir, box), Status::ok);
    auto want = whole_file_scan(file);
    ASSERT_EQ(s.drop.entries().size(), 6u);  // with the unquoted "From bare" line
    EXPECT_EQ(s.drop.entries()[0].uid, want.messages[0].md5);
    EXPECT_EQ(s.drop.entries()[1].uid, want.messages[0].md5 + "-2");  // identical copies
    EXPECT_EQ(s.drop.entries()[2].uid, want.messages[0].md5 + "-3");
    for (std::size_t i = 0; i < 6; ++i) {
        EXPECT_EQ(s.drop.entries()[i].size, want.messages[i].size);
        if (i > 2) {
            EXPECT_EQ(s.drop.entries()[i].uid, want.messages[i].md5);
        }
    }

    {  // a delivery during the session
        std::ofstream out(box, std::ios::binary | std::ios::app);
        out << appended;
    }
    ASSERT_EQ(s.drop.commit({1, 3, 5}), Status::ok);
    EXPECT_EQ(read_text(box), whole_file_without(file, appended, {1, 3, 5}));
    EXPECT_FALSE(fs::exists(dir / ".carol.mbox.rewrite"));
}

TEST(MboxScan, HeapMeterSeesAWholeFileRead) {
    heap::mark();
    std::size_t before = heap::stats().live;
    { std::string whole(20u << 20, 'x'); }
    EXPECT_GE(heap::stats().peak - before, 20u << 20);  // so the test below can fail
}

// 20 MB of mail: snapshot and commit of a POP3 session must not hold the
// file (the old code read it whole for each, and built the new content).
TEST(MboxScan, BigMboxSessionNeverHoldsTheFile) {
    TempDir dir;
    std::string box = dir / "big.mbox";
    const std::string body(100 * 1024, 'b');
    const std::size_t count = 205;  // about 20 MB
    auto message = [&](std::size_t i) {
        return from_a + "Subject: " + std::to_string(i) + "\n\n>From x\n" + body + "\n\n";
    };
    {
        std::ofstream out(box, std::ios::binary);
        for (std::size_t i = 0; i < count; ++i) out << message(i);
    }
    std::uint64_t size = fs::file_size(box);
    ASSERT_GT(size, 20u << 20);

    heap::mark();
    std::size_t before = heap::stats().live;
    Session s;
    ASSERT_EQ(s.open(dir, box), Status::ok);
    ASSERT_EQ(s.drop.entries().size(), count);
    ASSERT_EQ(s.drop.commit({0, 100, count - 1}), Status::ok);
    EXPECT_LT(heap::stats().peak - before, 2u << 20) << "peak heap over the session";

    EXPECT_EQ(fs::file_size(box),
              size - message(0).size() - message(100).size() - message(count - 1).size());
    s.drop.unlock();
    Session again;
    ASSERT_EQ(again.open(dir, box), Status::ok);
    EXPECT_EQ(again.drop.entries().size(), count - 3);
    EXPECT_EQ(again.drop.entries()[0].size, s.drop.entries()[1].size);
}

}  // namespace
