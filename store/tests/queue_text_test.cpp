// The text of queue files read in parts (store/queue_text): ranged pieces
// in any size give the queued octets exactly, also across a rewrite of the
// file; the facts MAIL FROM needs; the header section a bounce quotes.
#include <gtest/gtest.h>

#include <string>

#include "store/mail_store.hpp"
#include "store/queue.hpp"
#include "store/queue_text.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

// Lines of every length, dots, 8-bit octets: no two pieces look alike.
std::string big_text(std::size_t size) {
    std::string text = "Subject: big\r\nX-A: 1\r\n\r\n";
    for (std::size_t line = 0; text.size() < size; ++line)
        text += (line % 7 == 0 ? "." : "") + std::string(line % 97, char('a' + line % 26)) + "\r\n";
    return text;
}

struct Queued {
    TempDir dir;
    std::string queue_dir = dir / ".queue";
    MailStore store{StoreConfig{dir.path(), "", "", "h"}};

    explicit Queued(const std::string& text) {
        EXPECT_EQ(deliver_now(store, Delivery{"Q1", "a@here", {}, {"x@far.example", "y@far.example"}, text}),
                  Status::ok);
    }
};

// Reads the whole text from `from` on in pieces of at most `max_bytes`.
std::string read_in_pieces(queue::TextReaders& readers, const std::string& queue_dir,
                           std::uint32_t max_bytes, std::uint64_t from = 0) {
    std::string all, piece;
    bool end = false;
    while (!end) {
        EXPECT_EQ(readers.read(queue_dir, "Q1", from + all.size(), max_bytes, piece, end), Status::ok);
        EXPECT_LE(piece.size(), max_bytes);
        if (!end && piece.empty()) {
            ADD_FAILURE() << "no progress";
            break;
        }
        all += piece;
    }
    return all;
}

}  // namespace

TEST(QueueText, EnvelopeReadLeavesTheTextInTheFile) {
    std::string text = big_text(300 * 1024);
    Queued q(text);
    queue::Entry e;
    ASSERT_EQ(queue::read_envelope(q.queue_dir, "Q1", e), Status::ok);
    EXPECT_EQ(e.sender, "a@here");
    ASSERT_EQ(e.recipients.size(), 2u);
    EXPECT_TRUE(e.content.empty());
    EXPECT_EQ(e.content_size, text.size());
    EXPECT_EQ(read_text(q.queue_dir + "/Q1").substr(e.body_offset), text);
    EXPECT_EQ(queue::read_envelope(q.queue_dir, "missing", e), Status::not_found);
    EXPECT_EQ(queue::read_envelope(q.queue_dir, "../Q1", e), Status::not_found);
    write_text(q.queue_dir + "/garbage", "baremail-queue 1\nid: x\n");
    EXPECT_EQ(queue::read_envelope(q.queue_dir, "garbage", e), Status::permanent_failure);
}

TEST(QueueText, PiecesOfAnySizeGiveTheQueuedOctets) {
    std::string text = big_text(200 * 1024);
    Queued q(text);
    queue::TextReaders readers;
    for (std::uint32_t size : {1u, 7u, 4096u, 65536u, 1u << 20})
        EXPECT_TRUE(read_in_pieces(readers, q.queue_dir, size) == text) << size;
    EXPECT_EQ(readers.open_streams(), 0u);  // each stream closed at its end
}

TEST(QueueText, AnyOffsetAndTheEndAreAllowed) {
    std::string text = big_text(10 * 1024);
    Queued q(text);
    queue::TextReaders readers;
    std::string piece;
    bool end = false;
    ASSERT_EQ(readers.read(q.queue_dir, "Q1", 5000, 100, piece, end), Status::ok);
    EXPECT_EQ(piece, text.substr(5000, 100));
    EXPECT_FALSE(end);
    ASSERT_EQ(readers.read(q.queue_dir, "Q1", 10, 20, piece, end), Status::ok);  // backwards
    EXPECT_EQ(piece, text.substr(10, 20));
    EXPECT_EQ(readers.open_streams(), 2u);
    ASSERT_EQ(readers.read(q.queue_dir, "Q1", text.size(), 100, piece, end), Status::ok);
    EXPECT_TRUE(piece.empty());
    EXPECT_TRUE(end);
    EXPECT_EQ(readers.read(q.queue_dir, "nothing", 0, 100, piece, end), Status::not_found);
}

TEST(QueueText, AStreamReadsOnAcrossARewriteThatGrowsTheHeader) {
    std::string text = big_text(100 * 1024);
    Queued q(text);
    queue::TextReaders readers;
    std::string first;
    bool end = false;
    ASSERT_EQ(readers.read(q.queue_dir, "Q1", 0, 30000, first, end), Status::ok);

    queue::Entry e;
    ASSERT_EQ(queue::read_envelope(q.queue_dir, "Q1", e), Status::ok);
    e.recipients[0].state = queue::RecipientState::failed;
    e.recipients[0].diagnostic = std::string(500, 'd');  // the text moves in the new file
    CommitGroup group;
    Status status = Status::temp_failure;
    queue::rewrite(q.queue_dir, e, group, &status);
    group.flush();
    ASSERT_EQ(status, Status::ok);

    EXPECT_TRUE(first + read_in_pieces(readers, q.queue_dir, 30000, first.size()) == text);
    queue::TextReaders fresh;  // a reader opening the new version
    EXPECT_TRUE(first + read_in_pieces(fresh, q.queue_dir, 30000, first.size()) == text);
    queue::Entry again;
    ASSERT_EQ(queue::read(q.queue_dir, "Q1", again), Status::ok);
    EXPECT_EQ(again.recipients[0].diagnostic, std::string(500, 'd'));
    EXPECT_TRUE(again.content == text);
}

TEST(QueueText, MailStoreServesPiecesInOrder) {
    std::string text = big_text(150 * 1024);
    Queued q(text);
    std::string all, piece;
    bool end = false;
    while (!end) {
        ASSERT_EQ(q.store.read_queued("Q1", all.size(), 64 * 1024, piece, end), Status::ok);
        all += piece;
    }
    EXPECT_TRUE(all == text);
}

TEST(QueueText, FactsGiveTheSizeAndEightBitOctets) {
    Queued seven("Subject: a\r\n\r\nplain\r\n");
    queue::TextFacts facts;
    ASSERT_EQ(queue::text_facts(seven.queue_dir, "Q1", facts), Status::ok);
    EXPECT_EQ(facts.size, 21u);
    EXPECT_FALSE(facts.eight_bit);
    std::string text = big_text(150 * 1024) + "caf\xc3\xa9\r\n";
    Queued eight(text);
    ASSERT_EQ(queue::text_facts(eight.queue_dir, "Q1", facts), Status::ok);
    EXPECT_EQ(facts.size, text.size());
    EXPECT_TRUE(facts.eight_bit);
}

TEST(QueueText, HeaderSectionStopsAtTheFirstEmptyLine) {
    std::string text = big_text(300 * 1024);
    Queued q(text);
    std::string headers;
    ASSERT_EQ(queue::read_header_section(q.queue_dir, "Q1", 256 * 1024, headers), Status::ok);
    EXPECT_EQ(headers, "Subject: big\r\nX-A: 1\r\n\r\n");
    ASSERT_EQ(queue::read_header_section(q.queue_dir, "Q1", 10, headers), Status::ok);
    EXPECT_EQ(headers, "Subject: b");

    std::string long_header = "X-Long: " + std::string(100 * 1024, 'h') + "\r\n\r\nbody\r\n";
    Queued l(long_header);
    ASSERT_EQ(queue::read_header_section(l.queue_dir, "Q1", 256 * 1024, headers), Status::ok);
    EXPECT_EQ(headers, long_header.substr(0, long_header.size() - 6));

    Queued none("\r\nbody only\r\n");
    ASSERT_EQ(queue::read_header_section(none.queue_dir, "Q1", 256 * 1024, headers), Status::ok);
    EXPECT_EQ(headers, "\r\n");
}

// The hold and delay-warning marks survive a round trip; a file without
// them (every file written before they existed) reads as neither.
TEST(QueueText, HeldAndWarnedMarksRoundTripAndDefaultToOff) {
    queue::Entry e;
    e.id = "Q9";
    e.created = 5;
    e.sender = "a@here";
    e.recipients.push_back({queue::RecipientState::pending, "x@far.example", {}});
    e.content = "Subject: s\r\n\r\nbody\r\n";
    auto plain = queue::parse(queue::format(e));
    ASSERT_TRUE(plain);
    EXPECT_FALSE(plain->held);
    EXPECT_FALSE(plain->warned);
    EXPECT_EQ(queue::format(e).find("held"), std::string::npos);

    e.held = true;
    e.warned = true;
    auto marked = queue::parse(queue::format(e));
    ASSERT_TRUE(marked);
    EXPECT_TRUE(marked->held);
    EXPECT_TRUE(marked->warned);
    EXPECT_EQ(marked->content, e.content);
}
