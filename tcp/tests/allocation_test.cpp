// ARCHITECTURE.md: "the hot path does not call malloc". Counts operator new
// calls (heap_meter) while sessions exchange segments: the engine's share
// and the machines' must be zero once their pools are warm; what a store
// request carries (envelope, body) is the store's, counted apart.
#include <algorithm>
#include <cstdio>
#include <utility>
#include <variant>
#include <vector>

#include "tcp/tests/harness.hpp"
#include "apps/block_pool.hpp"
#include "harness/testing/heap_meter.hpp"
#include "tcp/reassembly.hpp"

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
    for (int i = 0; i < 51; ++i) {
        if (i == 1) heap::mark();  // the first gap warms the pool of out-of-order blocks
        Peer ahead = p;
        ahead.seq += 5;
        in(ahead, ACK | PSH, "o\r\n");  // beyond RCV.NXT: kept in the reassembly chunks
        in(p, ACK | PSH, "ECHO ");       // fills the gap: "+OK o" goes
        p.seq = ahead.seq;
    }
    EXPECT_EQ(heap::stats().allocations, 0u);
    // Each filled gap gave its block back: an in-order connection holds none.
    EXPECT_EQ(apps::BlockPool<Reassembly>::local().in_use(), 0u);
    // Unacknowledged reply: the RTO resends it.
    in(p, ACK | PSH, "ECHO lost\r\n");
    std::size_t before = out_.segments;
    heap::mark();
    now_ += 2'000'000;
    engine_->on_timers(now_);
    EXPECT_GT(out_.segments, before);
    EXPECT_EQ(heap::stats().allocations, 0u);
}

TEST_F(AllocationTest, SmtpDataBodySegmentsGrowTheBodyAtMostOnce) {
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
    // 140 KB outgrow the first reserve (16 KiB without SIZE=): the body
    // goes at once to a spool chunk's size, never once per segment.
    EXPECT_LE(heap::stats().allocations, 1u);
}

// The store of --sink, as the poll loop drives it: each request answered
// after the segment that made it (never inside submit, apps/mail_port.hpp).
// What a request carries (envelope, body, header prefix) is the store's
// and counted apart: `request_buffers` is how many heap buffers the
// requests held when they came.
class SinkStore final : public StorePort {
public:
    SinkStore() { pending_.reserve(8); }
    void submit(std::uint64_t token, apps::StoreRequest request) override {
        request_buffers += heap_buffers(request);
        pending_.emplace_back(token, std::move(request));
    }
    void answer(Engine& engine, std::uint64_t now_us) {
        for (std::size_t i = 0; i < pending_.size(); ++i)  // an answer may make the session ask again
            engine.on_store_reply(pending_[i].first, reply_to(pending_[i].second), now_us);
        pending_.clear();
    }
    std::uint64_t request_buffers = 0;

private:
    static std::size_t heap_buffers(const std::string& s) { return s.capacity() > std::string().capacity(); }
    static std::size_t heap_buffers(const apps::StoreRequest& request) {
        if (const auto* lookup = std::get_if<apps::LookupUser>(&request)) return heap_buffers(lookup->local_part);
        const auto* deliver = std::get_if<apps::Deliver>(&request);
        if (!deliver) return 0;
        std::size_t n = heap_buffers(deliver->queue_id) + heap_buffers(deliver->message) +
                        heap_buffers(deliver->head) + heap_buffers(deliver->envelope.sender) +
                        (deliver->envelope.recipients.capacity() != 0);
        for (const apps::Recipient& r : deliver->envelope.recipients)
            n += heap_buffers(r.address) + heap_buffers(r.mailbox);
        return n;
    }
    static apps::StoreReply reply_to(const apps::StoreRequest& request) {
        if (std::holds_alternative<apps::LookupUser>(request)) return apps::UserFound{apps::Outcome::ok, "user"};
        if (std::holds_alternative<apps::Deliver>(request)) return apps::Delivered{apps::Outcome::ok, {}};
        return apps::Spooled{apps::Outcome::temp_failure, 0};  // a 1 KiB body is never spooled
    }
    std::vector<std::pair<std::uint64_t, apps::StoreRequest>> pending_;
};

// A whole sink session as a non-pipelining client runs it: handshake,
// greeting, EHLO, MAIL, RCPT, DATA, a 1 KiB body, QUIT, the FIN exchange.
class SinkSessions : public ::testing::Test {
protected:
    SinkSessions() {
        EngineConfig config = test_config();
        config.tcb_capacity = 2048;  // every session's TIME-WAIT keeps its slot
        config.max_conn_per_service = 2048;
        engine_ = std::make_unique<Engine>(config, out_, store_, log_);
        body_ = "Subject: sink\r\n\r\n";
        while (body_.size() < 1024) body_ += std::string(62, 'x') + "\r\n";
        body_ += ".\r\n";
    }
    std::uint32_t send(const FourTuple& tuple, std::uint32_t seq, std::uint8_t flags, std::string_view payload = {}) {
        SegmentIn s;
        s.tuple = tuple;
        s.seq = seq;
        s.ack = (flags & ACK) ? out_.last.seq + std::uint32_t(out_.last_len) + ((out_.last.flags & (SYN | FIN)) ? 1 : 0) : 0;
        s.flags = flags;
        s.window = 65535 >> 7;
        s.payload = bytes_of(payload);
        if (flags & SYN) s.options = {1460, 7, false, false, 0, 0};
        engine_->on_segment(s, now_);
        store_.answer(*engine_, now_);
        return seq + std::uint32_t(payload.size()) + ((flags & (SYN | FIN)) ? 1 : 0);
    }
    // Returns how many replies were not the sink's.
    int session(std::uint16_t client_port) {
        static constexpr std::string_view codes[] = {"250", "250", "250", "354", "250", "221"};
        const std::string_view commands[] = {"EHLO client.test\r\n", "MAIL FROM:<sender@client.test>\r\n",
                                             "RCPT TO:<user@mx.test>\r\n", "DATA\r\n", body_, "QUIT\r\n"};
        FourTuple tuple{server_ip, smtp_port, client_ip, client_port};
        ++now_;
        std::uint32_t seq = send(tuple, client_isn, SYN);
        seq = send(tuple, seq, ACK);  // -> 220
        int wrong = 0;
        for (std::size_t i = 0; i < std::size(commands); ++i) {
            seq = send(tuple, seq, ACK | PSH, commands[i]);
            wrong += out_.last_code() != codes[i];
        }
        send(tuple, seq, ACK | FIN);  // after 221 and our FIN: TIME-WAIT
        return wrong;
    }

    class CodeOutput final : public Output {
    public:
        void emit(const SegmentOut& segment, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) override {
            last = segment;
            last_len = a.size() + b.size();
            if (a.size() >= 3) std::copy_n(a.data(), 3, code);
        }
        std::string_view last_code() const { return {code, 3}; }
        SegmentOut last;
        std::size_t last_len = 0;
        char code[3] = {};
    } out_;
    SinkStore store_;
    struct QuietLog final : EventSink {
        void event(std::string_view, std::string_view, std::string_view, std::string_view) override {}
        bool verbose() const override { return false; }
        void debug(std::uint64_t, std::string_view, std::string_view) override {}
    } log_;
    std::unique_ptr<Engine> engine_;
    std::uint64_t now_ = 1'000'000'000;
    std::string body_;
};

// The task pool's promise: once warm, a whole SMTP session through the
// engine allocates nothing but what its store requests carry.
TEST_F(SinkSessions, AThousandSmtpSessionsAllocateNothingButTheirStoreRequests) {
    int wrong = 0;
    for (std::uint16_t i = 0; i < 10; ++i) wrong += session(std::uint16_t(30000 + i));  // pools and rings warm up
    heap::mark();
    std::uint64_t buffers_before = store_.request_buffers;
    for (std::uint16_t i = 0; i < 1000; ++i) wrong += session(std::uint16_t(40000 + i));
    std::uint64_t allocations = heap::stats().allocations;
    std::uint64_t request_buffers = store_.request_buffers - buffers_before;
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(engine_->open_connections(), 0u);
    std::printf("[ alloc    ] 1,000 SMTP sink sessions: %llu allocations, %llu of them carried by store requests\n",
                static_cast<unsigned long long>(allocations), static_cast<unsigned long long>(request_buffers));
    EXPECT_EQ(allocations - request_buffers, 0u);
    EXPECT_EQ(engine_->invariant_violation(), "");
}

// A HELO session's 221 names the host ("221 mx.test closing connection"):
// put together in place like every other reply.
TEST_F(SinkSessions, AThousandHeloQuitSessionsAllocateNothing) {
    auto helo_quit = [&](std::uint16_t client_port) {
        FourTuple tuple{server_ip, smtp_port, client_ip, client_port};
        ++now_;
        std::uint32_t seq = send(tuple, client_isn, SYN);
        seq = send(tuple, seq, ACK);
        seq = send(tuple, seq, ACK | PSH, "HELO client.test\r\n");
        bool ok = out_.last_code() == "250";
        seq = send(tuple, seq, ACK | PSH, "QUIT\r\n");
        ok = ok && out_.last_code() == "221";
        send(tuple, seq, ACK | FIN);
        return ok;
    };
    int wrong = 0;
    for (std::uint16_t i = 0; i < 10; ++i) wrong += !helo_quit(std::uint16_t(30000 + i));
    heap::mark();
    for (std::uint16_t i = 0; i < 1000; ++i) wrong += !helo_quit(std::uint16_t(40000 + i));
    EXPECT_EQ(heap::stats().allocations, 0u);
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(engine_->open_connections(), 0u);
}

}  // namespace
}  // namespace bm::tcp::testing
