// ARCHITECTURE.md: "the hot path does not call malloc". Counts operator new
// calls (heap_meter) while established sessions exchange segments. The
// engine's share must be zero; what the machines allocate (apps/ builds
// each reply as a std::string) is reported, not asserted — it is theirs.
#include <cstdio>

#include "tcp/tests/harness.hpp"
#include "harness/testing/heap_meter.hpp"

namespace bm::tcp::testing {
namespace {

// Keeps nothing, so the meter sees only the engine and the machines.
class CountingOutput final : public Output {
public:
    void emit(const SegmentOut& segment, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) override {
        last = segment;
        last_len = a.size() + b.size();
        ++segments;
    }
    SegmentOut last;
    std::size_t last_len = 0, segments = 0;
};

class AllocationTest : public ::testing::Test {
protected:
    void SetUp() override { engine_ = std::make_unique<Engine>(test_config(), out_, store_, log_); }
    struct Peer {
        FourTuple tuple;
        std::uint32_t seq = client_isn, ack = 0;
    };
    void in(Peer& p, std::uint8_t flags, std::string_view payload = {}) {
        SegmentIn s;
        s.tuple = p.tuple;
        s.seq = p.seq;
        s.ack = p.ack;
        s.flags = flags;
        s.window = 65535 >> 7;
        s.payload = bytes_of(payload);
        if (flags & SYN) s.options = {1460, 7, false, false, 0, 0};
        p.seq += std::uint32_t(payload.size()) + ((flags & (SYN | FIN)) ? 1 : 0);
        engine_->on_segment(s, now_);
        if (out_.segments > 0)
            p.ack = out_.last.seq + std::uint32_t(out_.last_len) + ((out_.last.flags & (SYN | FIN)) ? 1 : 0);
    }
    Peer open(std::uint16_t port, std::uint16_t client_port = 40000) {
        Peer p;
        p.tuple = {server_ip, port, client_ip, client_port};
        in(p, SYN);
        in(p, ACK);
        in(p, ACK);  // the greeting acknowledged
        return p;
    }

    CountingOutput out_;
    FakeStore store_;
    struct QuietLog final : EventSink {
        void event(std::string_view, std::string_view, std::string_view, std::string_view) override {}
        bool verbose() const override { return false; }
        void debug(std::uint64_t, std::string_view, std::string_view) override {}
    } log_;
    std::unique_ptr<Engine> engine_;
    std::uint64_t now_ = 1'000'000'000;
};

TEST_F(AllocationTest, PureAckAndWindowUpdateOnAnEstablishedConnectionAllocateNothing) {
    Peer p = open(echo_port);
    heap::mark();
    for (int i = 0; i < 100; ++i) in(p, ACK);
    EXPECT_EQ(heap::stats().allocations, 0u);
}

TEST_F(AllocationTest, EchoRoundTripAllocatesNothingInTheEngine) {
    Peer p = open(echo_port);
    in(p, ACK | PSH, "ECHO warm\r\n");  // first use of the send ring's chunk
    heap::mark();
    for (int i = 0; i < 100; ++i) {
        in(p, ACK | PSH, "ECHO hi\r\n");  // "+OK hi": the machine's strings fit SSO
        ASSERT_EQ(out_.last_len, 8u);
    }
    EXPECT_EQ(heap::stats().allocations, 0u);
}

TEST_F(AllocationTest, OutOfOrderDataAndRetransmissionAllocateNothing) {
    Peer p = open(echo_port);
    in(p, ACK | PSH, "ECHO warm\r\n");
    heap::mark();
    for (int i = 0; i < 50; ++i) {
        Peer ahead = p;
        ahead.seq += 5;
        in(ahead, ACK | PSH, "o\r\n");  // beyond RCV.NXT: kept in the reassembly chunks
        in(p, ACK | PSH, "ECHO ");       // fills the gap: "+OK o" goes
        p.seq = ahead.seq;
    }
    EXPECT_EQ(heap::stats().allocations, 0u);
    // Unacknowledged reply: the RTO resends it.
    in(p, ACK | PSH, "ECHO lost\r\n");
    std::size_t before = out_.segments;
    heap::mark();
    now_ += 2'000'000;
    engine_->on_timers(now_);
    EXPECT_GT(out_.segments, before);
    EXPECT_EQ(heap::stats().allocations, 0u);
}

TEST_F(AllocationTest, SmtpDataBodySegmentsAllocateNothingInTheEngine) {
    Peer p = open(smtp_port);
    in(p, ACK | PSH, "HELO client.test\r\n");
    in(p, ACK | PSH, "MAIL FROM:<alice@client.test>\r\n");
    in(p, ACK | PSH, "RCPT TO:<bob@mx.test>\r\n");
    ASSERT_EQ(store_.calls.size(), 1u);
    engine_->on_store_reply(store_.calls[0].token, apps::UserFound{apps::Outcome::ok, "bob"}, now_);
    in(p, ACK | PSH, "DATA\r\n");
    std::string line(1400, 'x');
    line += "\r\n";
    heap::mark();
    for (int i = 0; i < 100; ++i) in(p, ACK | PSH, line);
    heap::Stats s = heap::stats();
    // The machine grows its body string (apps/), amortised: a handful of
    // reallocations for 140 KB, never one per segment.
    std::printf("[ alloc    ] 100 DATA body segments: %llu allocations (SmtpServer body growth)\n",
                static_cast<unsigned long long>(s.allocations));
    EXPECT_LT(s.allocations, 20u);
}

}  // namespace
}  // namespace bm::tcp::testing
