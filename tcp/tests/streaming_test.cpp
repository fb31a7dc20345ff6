// Big replies (POP3 RETR): the send path holds what the machine queued once,
// frees it as it is acknowledged, and sends within min(cwnd, SND.WND).
// Heap figures come from heap_meter (the test binary's operator new).
#include <cstdio>
#include <cstring>

#include "tcp/chunk_pool.hpp"
#include "tcp/send_buffer.hpp"
#include "tcp/tests/harness.hpp"
#include "harness/testing/heap_meter.hpp"

namespace bm::tcp::testing {
namespace {

std::string text_of(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b = {}) {
    return std::string(reinterpret_cast<const char*>(a.data()), a.size()) +
           std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = char('a' + (i * 7 + i / 4099) % 26);
    return s;
}

// ---- SendBuffer on its own ----------------------------------------------

TEST(SendBuffer, BytesBeyondTheRingAreCutFromWhereTheyWereFirstCopied) {
    ChunkPool pool(64 * 1024, 2048);
    SendBuffer q;
    std::string data = pattern(300'000);
    q.write(pool, data, 16 * 1024);
    EXPECT_EQ(q.size(), data.size());
    EXPECT_EQ(pool.free_bytes(), 48u * 1024);  // the ring took 16 KB of chunks
    // Every byte can be cut now, not only the ring's.
    for (std::size_t offset = 0; offset < data.size(); offset += 1460) {
        std::span<const std::uint8_t> a, b;
        std::size_t len = std::min<std::size_t>(1460, data.size() - offset);
        q.peek(pool, offset, len, a, b);
        ASSERT_EQ(text_of(a, b), data.substr(offset, len)) << offset;
    }
    // The ring is acknowledged: its chunks go back and stay back — the
    // overflow is not copied into them a second time.
    q.acknowledge(pool, 16 * 1024);
    EXPECT_EQ(pool.free_bytes(), 64u * 1024);
    std::span<const std::uint8_t> a, b;
    q.peek(pool, 100, 1000, a, b);
    EXPECT_EQ(text_of(a, b), data.substr(16 * 1024 + 100, 1000));
    // Small writes behind the overflow keep their order.
    q.write(pool, "tail", 16 * 1024);
    q.peek(pool, q.size() - 6, 6, a, b);
    EXPECT_EQ(text_of(a, b), data.substr(data.size() - 2) + "tail");
    q.acknowledge(pool, q.size());
    EXPECT_TRUE(q.empty());
    // Drained: the ring is used again.
    q.write(pool, "again", 16 * 1024);
    EXPECT_EQ(pool.free_bytes(), 62u * 1024);
    q.clear(pool);
    EXPECT_EQ(pool.free_bytes(), 64u * 1024);
}

TEST(SendBuffer, PeekAtAnyOffsetAfterGoingBackAsAnRtoDoes) {
    ChunkPool pool(64 * 1024, 2048);
    SendBuffer q;
    std::string data = pattern(100'000);
    q.write(pool, data, 8 * 1024);
    std::span<const std::uint8_t> a, b;
    for (std::size_t offset : {0ul, 50'000ul, 8191ul, 8192ul, 1ul, 99'000ul, 7000ul, 70'000ul, 2047ul}) {
        q.peek(pool, offset, 1460, a, b);
        EXPECT_EQ(text_of(a, b), data.substr(offset, 1460)) << offset;
    }
    q.acknowledge(pool, 9000);
    q.peek(pool, 0, 1460, a, b);
    EXPECT_EQ(text_of(a, b), data.substr(9000, 1460));
    q.peek(pool, 80'000, 1460, a, b);
    EXPECT_EQ(text_of(a, b), data.substr(89'000, 1460));
    q.clear(pool);
}

// The engine's own heap for a reply larger than the ring: one copy of the
// overflow, given back as the peer acknowledges it — not held whole until
// the last byte.
TEST(SendBuffer, OverflowHeapIsOneCopyReleasedAsAcknowledged) {
    ChunkPool pool(1 << 20, 2048);
    SendBuffer q;
    const std::size_t n = 10u << 20;
    std::string data = pattern(n);
    heap::mark();
    std::size_t before = heap::stats().live;
    q.write(pool, data, 64 * 1024);
    heap::Stats written = heap::stats();
    std::size_t held = written.live - before;
    std::size_t peak = written.peak - before;
    q.acknowledge(pool, n / 2);
    std::size_t half = heap::stats().live - before;
    q.acknowledge(pool, n / 2);
    std::size_t done = heap::stats().live - before;
    std::printf("[ heap     ] SendBuffer, 10 MB write: peak %.2f MiB, held %.2f MiB, "
                "after half ACKed %.2f MiB, after all %.2f MiB\n",
                peak / 1048576.0, held / 1048576.0, half / 1048576.0, done / 1048576.0);
    EXPECT_LE(peak, n + 256 * 1024);
    EXPECT_LE(half, n / 2 + 256 * 1024);
    EXPECT_EQ(done, 0u);
}

// ---- a 10 MB RETR through the engine --------------------------------------

// Checks every payload byte against the expected stream as it leaves, keeps
// no copy (so the heap meter sees only the engine and the machine).
class StreamCheckingOutput final : public Output {
public:
    void emit(const SegmentOut& segment, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) override {
        std::size_t len = a.size() + b.size();
        std::uint32_t end = segment.seq + std::uint32_t(len) + ((segment.flags & (SYN | FIN)) ? 1 : 0);
        if (std::int32_t(end - next_seq) > 0 || next_seq == 0) next_seq = end;
        if (len == 0 || expected.empty()) return;
        std::uint32_t at = segment.seq - first_seq;
        bytes_sent += len;
        highest = std::max<std::uint32_t>(highest, at + std::uint32_t(len));
        if (at + len > expected.size() || std::memcmp(a.data(), expected.data() + at, a.size()) != 0 ||
            std::memcmp(b.data(), expected.data() + at + a.size(), b.size()) != 0)
            ++mismatches;
    }
    std::string_view expected;    // checked from first_seq on, once set
    std::uint32_t first_seq = 0;  // the sequence number of expected[0]
    std::uint32_t highest = 0;    // offset after the highest byte sent
    std::uint32_t next_seq = 0;   // after the highest sequence number sent
    std::size_t bytes_sent = 0, mismatches = 0;
};

class StreamingTest : public ::testing::Test {
protected:
    void SetUp() override {
        EngineConfig config = test_config();
        config.buffer_bytes = 16u << 20;
        engine_ = std::make_unique<Engine>(config, out_, store_, log_);
    }
    void in(std::uint8_t flags, std::string_view payload = {}) {
        SegmentIn s;
        s.tuple = {server_ip, pop3_port, client_ip, 40000};
        s.seq = seq_;
        s.ack = ack_;
        s.flags = flags;
        s.window = window_;
        s.payload = bytes_of(payload);
        if (flags & SYN) s.options = {1460, 7, false, false, 0, 0};
        seq_ += std::uint32_t(payload.size()) + ((flags & (SYN | FIN)) ? 1 : 0);
        engine_->on_segment(s, now_);
    }
    void answer(apps::StoreReply reply) {
        ASSERT_FALSE(store_.calls.empty());
        std::uint64_t token = store_.calls.front().token;
        store_.calls.erase(store_.calls.begin());
        ASSERT_TRUE(engine_->on_store_reply(token, std::move(reply), now_));
    }

    StreamCheckingOutput out_;
    FakeStore store_;
    RecordingLog log_;
    std::unique_ptr<Engine> engine_;
    std::uint32_t seq_ = client_isn, ack_ = 0;
    std::uint16_t window_ = 65535 >> 7;  // 64 KB with the shift of 7
    std::uint64_t now_ = 1'000'000'000;
};

TEST_F(StreamingTest, Pop3Retr10MbStreamsPieceByPieceWithinTheWindowHoldingLittle) {
    const std::size_t size = 10u << 20;
    std::string message;
    message.reserve(size + 100);
    for (int i = 0; message.size() < size; ++i)
        message += (i % 5 == 0 ? ".line " : "line ") + std::to_string(i) + " of a big message\r\n";
    std::string stuffed;
    for (std::size_t at = 0; at < message.size();) {
        std::size_t eol = message.find('\n', at) + 1;
        if (message[at] == '.') stuffed += '.';
        stuffed.append(message, at, eol - at);
        at = eol;
    }
    std::string expected = "+OK " + std::to_string(message.size()) + " octets\r\n" + stuffed + ".\r\n";

    in(SYN);
    ack_ = out_.next_seq;
    in(ACK);  // the greeting
    in(ACK | PSH, "USER bob\r\n");
    in(ACK | PSH, "PASS secret\r\n");
    answer(apps::MaildropOpened{apps::Outcome::ok, 1, {{message.size(), "uid1"}}});
    ack_ = out_.next_seq;
    in(ACK);
    heap::mark();
    std::size_t base = heap::stats().live;
    in(ACK | PSH, "RETR 1\r\n");
    out_.expected = expected;
    out_.first_seq = out_.next_seq;

    std::uint64_t next_offset = 0;
    std::size_t reads = 0, peak_live = 0, most_in_flight = 0;
    std::uint32_t rwnd = std::uint32_t(window_) << 7;
    for (int round = 0; round < 200'000 && out_.highest < expected.size(); ++round) {
        while (!store_.calls.empty()) {
            auto* read = std::get_if<apps::ReadMessage>(&store_.calls.front().request);
            ASSERT_NE(read, nullptr);
            ASSERT_EQ(read->offset, next_offset);  // in order, never twice
            ASSERT_LE(read->max_bytes, 64u * 1024);
            std::size_t n = std::min<std::size_t>(read->max_bytes, message.size() - next_offset);
            apps::MessageText piece{apps::Outcome::ok, message.substr(next_offset, n),
                                    next_offset + n == message.size()};
            next_offset += n;
            ++reads;
            answer(std::move(piece));
            peak_live = std::max(peak_live, heap::stats().peak - base);
            heap::mark();
        }
        ack_ = out_.first_seq + out_.highest;  // in order, no loss: ACK all
        most_in_flight = std::max<std::size_t>(most_in_flight, out_.highest - (ack_ - out_.first_seq));
        in(ACK);
        ASSERT_LE(out_.highest - (ack_ - out_.first_seq), rwnd);
        peak_live = std::max(peak_live, heap::stats().peak - base);
        heap::mark();
    }
    ack_ = out_.first_seq + out_.highest;
    in(ACK);
    std::size_t held_at_end = heap::stats().live - base;
    EXPECT_EQ(next_offset, message.size());
    EXPECT_EQ(out_.highest, expected.size());
    EXPECT_EQ(out_.bytes_sent, expected.size());  // no retransmission needed
    EXPECT_EQ(out_.mismatches, 0u);
    std::printf("[ heap     ] 10 MB RETR, per connection: %zu store reads, heap peak %.1f KiB "
                "(the piece in flight included), %.1f KiB at end\n",
                reads, peak_live / 1024.0, held_at_end / 1024.0);
    EXPECT_GE(reads, size / (64 * 1024));
    // A piece (the reply string, its dot-stuffed copy) and the machine's
    // bookkeeping: nothing near the 10 MB of the message.
    EXPECT_LE(peak_live, 512u * 1024);
    EXPECT_LE(held_at_end, 64u * 1024);
}

}  // namespace
}  // namespace bm::tcp::testing
