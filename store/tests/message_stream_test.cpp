// RETR and TOP read piece by piece: every way of cutting the text into
// pieces gives back exactly what the whole-text functions give, and a
// piece costs about its own size in file reads.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <random>
#include <unistd.h>

#include "store/file_io.hpp"
#include "store/mail_store.hpp"
#include "store/maildrop.hpp"
#include "store/mbox.hpp"
#include "store/message_stream.hpp"
#include "store/message_text.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

const std::uint32_t piece_sizes[] = {1, 2, 3, 7, 64, 4096, 65536};
const std::int32_t top_counts[] = {-1, 0, 1, 2, 100};

// The text as the store gave it before it was read in pieces.
std::string whole_text(const std::string& stored, bool mbox, std::int32_t top_lines) {
    std::string text = mbox ? mbox::message_text(stored) : to_crlf(stored);
    return top_lines >= 0 ? top_of_message(text, top_lines) : text;
}

// Checks the contract of one run of pieces and returns them joined.
template <typename ReadPiece>
std::string join_pieces(std::uint32_t max_bytes, ReadPiece read_piece) {
    std::string all, piece;
    for (bool end = false; !end;) {
        if (::testing::Test::HasFailure()) break;
        EXPECT_EQ(read_piece(all.size(), piece, end), Status::ok);
        EXPECT_LE(piece.size(), max_bytes);
        // Only the last piece may be short (and empty only when the text is).
        if (!end) {
            EXPECT_EQ(piece.size(), max_bytes);
        }
        all += piece;
    }
    return all;
}

// Streams `stored` straight from a file, without a maildrop around it.
std::string stream_file(const TempDir& dir, const std::string& stored, bool mbox,
                        std::int32_t top_lines, std::uint32_t max_bytes) {
    std::string path = dir / "raw";
    write_text(path, stored);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(fd.valid());
    MessageStream stream(fd.get(), 0, stored.size(), mbox, top_lines);
    return join_pieces(max_bytes, [&](std::uint64_t, std::string& piece, bool& end) {
        return stream.read(max_bytes, piece, end) == 0 ? Status::ok : Status::temp_failure;
    });
}

const std::vector<std::string> maildir_texts = {
    "Subject: lf\nFrom: a@b\n\nline one\nline two\n\nafter blank\nlast\n",
    "Subject: crlf\r\n\r\nbody 1\r\nbody 2\r\n",
    "Subject: x\n\nno newline at the end",
    "Subject: cr\rstill header\r\n\r\na\rb\r\r\nc\r",  // lone CRs, ends in one
    "\r",
    "Subject: only a header\nX-No-Body: true\n",
    "\nbody right away\nsecond\n",
    "\r\n\r\n\r\n",
    "",
};

// Stored (quoted) mbox message texts: quoted lines at every offset.
std::vector<std::string> mbox_texts() {
    const std::string quoted =
        ">From one\n>>From two\nFrom three\n>>>From four\n>From\n>Frm x\n>>\n>\n>From \n"
        ">>From \r\n>From>From x\n";
    std::vector<std::string> out;
    for (std::size_t pad = 0; pad < 8; ++pad)
        out.push_back("Subject: q\n\n" + std::string(pad, 'x') + "\n" + quoted + ">From end");
    out.push_back(">From first line\n\n" + quoted);
    out.push_back(">>>>");
    out.push_back(">>>From ");
    out.push_back("");
    return out;
}

}  // namespace

TEST(MessageStream, MaildirPiecesJoinToWholeText) {
    TempDir dir;
    for (const auto& stored : maildir_texts)
        for (std::int32_t top : top_counts)
            for (std::uint32_t max : piece_sizes)
                EXPECT_EQ(stream_file(dir, stored, false, top, max), whole_text(stored, false, top))
                    << "text " << ::testing::PrintToString(stored) << " top " << top << " max " << max;
}

TEST(MessageStream, MboxPiecesJoinToUnquotedText) {
    TempDir dir;
    for (const auto& stored : mbox_texts())
        for (std::int32_t top : top_counts)
            for (std::uint32_t max : piece_sizes)
                EXPECT_EQ(stream_file(dir, stored, true, top, max), whole_text(stored, true, top))
                    << "text " << ::testing::PrintToString(stored) << " top " << top << " max " << max;
}

// Random texts made of what matters: CR, LF, '>' runs, (parts of) "From ".
TEST(MessageStream, RandomTextsMatchWholeTextFunctions) {
    TempDir dir;
    std::mt19937 rng(20240611);
    const std::vector<std::string> tokens = {"\r", "\n", "\n", "\r\n", ">", ">",
                                             "From ", "Fro", "x", " "};
    for (int round = 0; round < 300; ++round) {
        std::string stored;
        for (int n = std::uniform_int_distribution<int>(0, 40)(rng); n > 0; --n)
            stored += tokens[std::uniform_int_distribution<std::size_t>(0, tokens.size() - 1)(rng)];
        bool mbox = round % 2 == 1;
        std::int32_t top = std::uniform_int_distribution<std::int32_t>(-1, 3)(rng);
        std::uint32_t max = piece_sizes[round % 4];
        ASSERT_EQ(stream_file(dir, stored, mbox, top, max), whole_text(stored, mbox, top))
            << ::testing::PrintToString(stored) << " mbox " << mbox << " top " << top
            << " max " << max;
    }
}

namespace {

// A mail dir whose mailboxes hold the test texts as other MDAs leave them:
// Maildir files without a size in their name, an mbox written directly.
class PieceRead : public ::testing::Test {
protected:
    void SetUp() override {
        write_text(dir / "users", "alice:pw\ncarol:pw\n");
        make_maildir(dir / "alice");
        for (std::size_t i = 0; i < maildir_texts.size(); ++i)
            write_text(maildir_path(i), maildir_texts[i]);
        std::string mbox;
        for (const auto& stored : mbox_texts())
            mbox += "From a@b Mon Jan  1 00:00:00 2024\n" + stored + "\n\n";
        write_text(dir / "carol.mbox", mbox);
        for (const auto& m : mbox::parse(mbox))
            carol_stored.push_back(mbox.substr(m.text_start, m.text_end - m.text_start));
        store = std::make_unique<MailStore>(StoreConfig{dir.path(), "", dir / "users", "h"});
    }
    std::string maildir_path(std::size_t i) const {
        return dir / ("alice/cur/" + std::to_string(1000000000 + i) + ".other.host:2,S");
    }
    std::string pieces(std::uint32_t handle, std::uint32_t index, std::int32_t top,
                       std::uint32_t max) {
        return join_pieces(max, [&](std::uint64_t offset, std::string& piece, bool& end) {
            return store->read_message(handle, index, top, offset, max, piece, end);
        });
    }
    void open(const std::string& user, std::uint32_t& handle, std::vector<MaildropEntry>& e) {
        ASSERT_EQ(store->open_maildrop(user, "pw", "", "", handle, e), Status::ok);
    }

    TempDir dir;
    std::unique_ptr<MailStore> store;
    std::vector<std::string> carol_stored;
};

}  // namespace

TEST_F(PieceRead, MaildirRetrAndTopInEveryPieceSize) {
    std::uint32_t h = 0;
    std::vector<MaildropEntry> entries;
    open("alice", h, entries);
    ASSERT_EQ(entries.size(), maildir_texts.size());
    for (std::uint32_t i = 0; i < entries.size(); ++i) {
        EXPECT_EQ(entries[i].size, whole_text(maildir_texts[i], false, -1).size()) << i;
        for (std::int32_t top : top_counts)
            for (std::uint32_t max : piece_sizes)
                EXPECT_EQ(pieces(h, i, top, max), whole_text(maildir_texts[i], false, top))
                    << "message " << i << " top " << top << " max " << max;
    }
    store->close_maildrop(h, {}, false);
}

TEST_F(PieceRead, MboxRetrAndTopInEveryPieceSize) {
    std::uint32_t h = 0;
    std::vector<MaildropEntry> entries;
    open("carol", h, entries);
    ASSERT_EQ(entries.size(), carol_stored.size());
    for (std::uint32_t i = 0; i < entries.size(); ++i) {
        EXPECT_EQ(entries[i].size, whole_text(carol_stored[i], true, -1).size()) << i;
        for (std::int32_t top : top_counts)
            for (std::uint32_t max : piece_sizes)
                EXPECT_EQ(pieces(h, i, top, max), whole_text(carol_stored[i], true, top))
                    << "message " << i << " top " << top << " max " << max;
    }
    store->close_maildrop(h, {}, false);
}

TEST_F(PieceRead, AnyOffsetGivesTheRightOctets) {
    for (const std::string user : {"alice", "carol"}) {
        std::uint32_t h = 0;
        std::vector<MaildropEntry> entries;
        open(user, h, entries);
        std::string want = user == "alice" ? whole_text(maildir_texts[0], false, -1)
                                           : whole_text(carol_stored[0], true, -1);
        std::string piece;
        bool end = false;
        // Forward jumps, backward jumps, another message in between, past the end.
        for (std::uint64_t offset : {0, 5, 3, 20, 21, 1, 40, 2}) {
            if (offset == 40) {
                ASSERT_EQ(store->read_message(h, 1, -1, 0, 4, piece, end), Status::ok);
            }
            ASSERT_EQ(store->read_message(h, 0, -1, offset, 4, piece, end), Status::ok);
            EXPECT_EQ(piece, offset < want.size() ? want.substr(offset, 4) : "")
                << user << " at " << offset;
            EXPECT_EQ(end, offset + 4 >= want.size()) << user << " at " << offset;
        }
        ASSERT_EQ(store->read_message(h, 0, -1, want.size() + 10, 4, piece, end), Status::ok);
        EXPECT_TRUE(piece.empty());
        EXPECT_TRUE(end);
        // TOP and RETR of one message do not share a place.
        ASSERT_EQ(store->read_message(h, 0, 1, 0, 3, piece, end), Status::ok);
        ASSERT_EQ(store->read_message(h, 0, -1, 3, 3, piece, end), Status::ok);
        EXPECT_EQ(piece, want.substr(3, 3));
        store->close_maildrop(h, {}, false);
    }
}

TEST_F(PieceRead, MaildirFileMovedOrDeletedBetweenPieces) {
    std::uint32_t h = 0;
    std::vector<MaildropEntry> entries;
    open("alice", h, entries);
    const std::string want = whole_text(maildir_texts[0], false, -1);
    std::string piece, got;
    bool end = false;

    // A mail reader moves it: the open file reads on, a restart finds it.
    ASSERT_EQ(store->read_message(h, 0, -1, 0, 10, piece, end), Status::ok);
    got = piece;
    fs::rename(maildir_path(0), maildir_path(0) + "R");
    while (!end) {
        ASSERT_EQ(store->read_message(h, 0, -1, got.size(), 10, piece, end), Status::ok);
        got += piece;
    }
    EXPECT_EQ(got, want);
    std::string again;
    ASSERT_EQ(read_whole(*store, h, 0, -1, again, 7), Status::ok);
    EXPECT_EQ(again, want);

    // Deleted mid-read: the open file still has it; starting over does not.
    ASSERT_EQ(store->read_message(h, 0, -1, 0, 10, piece, end), Status::ok);
    got = piece;
    fs::remove(maildir_path(0) + "R");
    while (!end) {
        ASSERT_EQ(store->read_message(h, 0, -1, got.size(), 10, piece, end), Status::ok);
        got += piece;
    }
    EXPECT_EQ(got, want);
    EXPECT_EQ(store->read_message(h, 0, -1, 0, 10, piece, end), Status::not_found);
    EXPECT_TRUE(piece.empty());
    // The other messages are not affected.
    ASSERT_EQ(read_whole(*store, h, 1, -1, again, 3), Status::ok);
    EXPECT_EQ(again, whole_text(maildir_texts[1], false, -1));
    store->close_maildrop(h, {}, false);
}

namespace {

// A 10 MB message: LF lines of varying length, mbox "From " lines quoted.
std::string big_stored(bool mbox) {
    std::string out = "Subject: big\n\n";
    out.reserve(10'500'000);
    for (std::size_t n = 0; out.size() < 10'000'000; ++n) {
        if (n % 97 == 0) out += mbox ? ">From the middle\n" : "From the middle\n";
        out.append(n % 131, static_cast<char>('a' + n % 26));
        out += '\n';
    }
    return out;
}

// Reads a message in 64 KiB pieces through the maildrop, checking each
// piece against `want` and that it read about one piece from the file.
void read_big(Pop3Maildrop& drop, std::uint32_t index, const std::string& want,
              std::uint64_t raw_size) {
    constexpr std::uint32_t max = 64 * 1024;
    constexpr std::uint64_t slack = 4096;  // the converter's smallest read
    std::uint64_t offset = 0, pieces = 0, first_read = drop.raw_bytes_read();
    std::string piece;
    for (bool end = false; !end; ++pieces) {
        std::uint64_t before = drop.raw_bytes_read();
        ASSERT_EQ(drop.read(index, -1, offset, max, piece, end), Status::ok);
        ASSERT_LE(drop.raw_bytes_read() - before, max + slack) << "piece " << pieces;
        ASSERT_EQ(piece, std::string_view(want).substr(offset, max)) << "piece " << pieces;
        offset += piece.size();
    }
    EXPECT_EQ(offset, want.size());
    EXPECT_GT(pieces, 150u);
    // Every raw octet was read exactly once over the whole message.
    EXPECT_EQ(drop.raw_bytes_read() - first_read, raw_size);
}

}  // namespace

TEST(BigMessage, MaildirRetrReadsAboutOnePiecePerPiece) {
    TempDir dir;
    make_maildir(dir / "u");
    const std::string stored = big_stored(false);
    write_text(dir / "u/cur/1000000000.big.host:2,S", stored);
    Pop3Maildrop drop;
    ASSERT_EQ(drop.snapshot(Mailbox{MailboxKind::maildir, dir / "u"}), Status::ok);
    ASSERT_EQ(drop.entries().size(), 1u);
    const std::string want = to_crlf(stored);
    EXPECT_EQ(drop.entries()[0].size, want.size());
    read_big(drop, 0, want, stored.size());

    // TOP of the same message reads only its start.
    std::string piece;
    bool end = false;
    std::uint64_t before = drop.raw_bytes_read();
    ASSERT_EQ(drop.read(0, 1, 0, 64 * 1024, piece, end), Status::ok);
    EXPECT_TRUE(end);
    EXPECT_EQ(piece, top_of_message(want, 1));
    EXPECT_LE(drop.raw_bytes_read() - before, 64u * 1024);
}

TEST(BigMessage, MboxRetrReadsAboutOnePiecePerPiece) {
    TempDir dir;
    const std::string stored = big_stored(true);
    write_text(dir / "u.mbox", "From a@b Mon Jan  1 00:00:00 2024\n" + stored + "\n" +
                                   "From c@d Mon Jan  1 00:00:01 2024\nSubject: s\n\nx\n\n");
    Pop3Maildrop drop;
    ASSERT_EQ(drop.snapshot(Mailbox{MailboxKind::mbox, dir / "u.mbox"}), Status::ok);
    ASSERT_EQ(drop.entries().size(), 2u);
    const std::string want = mbox::message_text(stored);
    EXPECT_EQ(drop.entries()[0].size, want.size());
    read_big(drop, 0, want, stored.size());
}
