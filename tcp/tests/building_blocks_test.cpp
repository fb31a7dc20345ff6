// The engine's parts on their own: sequence arithmetic, SipHash, chunk
// queues, reassembly, the timer wheel, the TCB table, RTO and NewReno.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "tcp/chunk_pool.hpp"
#include "tcp/congestion.hpp"
#include "tcp/reassembly.hpp"
#include "tcp/rtt.hpp"
#include "tcp/send_buffer.hpp"
#include "tcp/seq.hpp"
#include "tcp/siphash.hpp"
#include "tcp/syn_cookies.hpp"
#include "tcp/tcb_table.hpp"
#include "tcp/timer_wheel.hpp"

namespace bm::tcp {
namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string text(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b = {}) {
    return std::string(reinterpret_cast<const char*>(a.data()), a.size()) +
           std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

TEST(SequenceNumbers, Rfc9293_3_4_ComparisonsWrapModulo2To32) {
    EXPECT_TRUE(seq_lt(0xfffffff0u, 0x10u));
    EXPECT_TRUE(seq_gt(0x10u, 0xfffffff0u));
    EXPECT_TRUE(seq_in(0x2u, 0xfffffffeu, 0x5u));
    EXPECT_FALSE(seq_in(0x5u, 0xfffffffeu, 0x5u));
}

TEST(SipHash, PaperTestVector) {
    // SipHash paper, Appendix A: key 00..0f, message 00..0e.
    SipKey key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    std::array<std::uint8_t, 15> message{};
    for (std::uint8_t i = 0; i < 15; ++i) message[i] = i;
    EXPECT_EQ(siphash24(key, message), 0xa129ca6149be45e5ull);
}

TEST(ChunkQueue, AppendConsumePeekAcrossChunks) {
    ChunkPool pool(8 * 16, 16);
    ChunkQueue q;
    std::string data = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF";  // 42 bytes: 3 chunks
    EXPECT_EQ(q.append(pool, bytes(data), 1000), data.size());
    std::span<const std::uint8_t> a, b;
    ChunkQueue::Cursor cursor;
    q.peek(pool, cursor, 10, 16, a, b);
    EXPECT_EQ(text(a, b), data.substr(10, 16));
    q.consume(pool, 20);
    EXPECT_EQ(text(q.front(pool)), data.substr(20, 12));
    q.consume(pool, 22);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(pool.free_bytes(), 8u * 16);
}

// The cursor kept at SND.NXT: consecutive segments and ACKs in between,
// including ACKs that free the cursor's chunk or end inside it.
TEST(ChunkQueue, PeekFromACursorFollowsConsume) {
    ChunkPool pool(16 * 16, 16);
    ChunkQueue q;
    std::string data;
    for (int i = 0; i < 200; ++i) data += char('A' + i % 50);
    ASSERT_EQ(q.append(pool, bytes(data), 1000), 200u);
    ChunkQueue::Cursor cursor;
    std::size_t una = 0;  // bytes consumed so far
    std::span<const std::uint8_t> a, b;
    for (std::size_t nxt = 0; nxt < 200; nxt += 7) {
        q.peek(pool, cursor, nxt - una, 7, a, b);
        ASSERT_EQ(text(a, b), data.substr(nxt, 7)) << nxt;
        if (nxt % 21 == 0 && nxt > una) {  // an ACK for part of what is out
            std::size_t n = (nxt - una) / 2 + 1;
            q.consume(pool, n, cursor);
            una += n;
        }
    }
    q.peek(pool, cursor, 0, 16, a, b);  // back to SND.UNA, as after an RTO
    EXPECT_EQ(text(a, b), data.substr(una, 16));
    q.consume(pool, q.size(), cursor);
    EXPECT_EQ(cursor.chunk, ChunkPool::none);
    EXPECT_EQ(pool.free_bytes(), 16u * 16);
}

TEST(SendBuffer, OverflowBeyondTheRingIsKeptNotLost) {
    ChunkPool pool(4 * 16, 16);
    SendBuffer buffer;
    std::string big(200, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = char('a' + i % 26);
    buffer.write(pool, big, 32);
    EXPECT_EQ(buffer.size(), 200u);
    std::string seen;
    while (!buffer.empty()) {
        std::span<const std::uint8_t> a, b;
        buffer.peek(pool, 0, 16, a, b);
        seen += text(a, b);
        buffer.acknowledge(pool, a.size() + b.size());
    }
    EXPECT_EQ(seen, big);
}

TEST(Reassembly, Rfc9293_3_10_7_4_OutOfOrderRangesMergeAndDeliverInOrder) {
    ChunkPool pool(16 * 64, 64);
    Reassembly r;
    EXPECT_TRUE(r.insert(pool, 110, bytes("KLMNO")));
    EXPECT_TRUE(r.insert(pool, 105, bytes("FGHIJ")));
    EXPECT_TRUE(r.insert(pool, 107, bytes("HIJKL")));  // overlap: only new bytes kept
    std::string offered;
    std::uint32_t next = r.advance(pool, 100, [&](std::span<const std::uint8_t> b) {
        offered += text(b);
        return b.size();
    });
    EXPECT_EQ(next, 100u);  // the gap [100,105) is still open
    next = r.advance(pool, 105, [&](std::span<const std::uint8_t> b) {
        offered += text(b);
        return b.size();
    });
    EXPECT_EQ(next, 115u);
    EXPECT_EQ(offered, "FGHIJKLMNO");
    EXPECT_TRUE(r.empty());
}

TEST(Reassembly, BoundedNumberOfRanges) {
    ChunkPool pool(16 * 64, 64);
    Reassembly r;
    for (std::uint32_t i = 0; i < Reassembly::max_ranges; ++i) EXPECT_TRUE(r.insert(pool, 100 + 10 * i, bytes("x")));
    EXPECT_FALSE(r.insert(pool, 500, bytes("y")));
    r.clear(pool);
    EXPECT_EQ(pool.free_bytes(), 16u * 64);
}

TEST(TimerWheel, FiresAtOrAfterDeadlineNeverBefore) {
    TimerWheel wheel(4);
    wheel.begin(1'000'000);
    wheel.schedule(0, 1'040'000);        // 40 ms
    wheel.schedule(1, 1'000'000 + 10'000'000);  // 10 s: beyond one turn
    std::vector<std::uint32_t> fired;
    auto fire = [&](std::uint32_t id) { fired.push_back(id); };
    wheel.expire(1'039'999, fire);
    EXPECT_TRUE(fired.empty());
    wheel.expire(1'040'000, fire);
    EXPECT_EQ(fired, std::vector<std::uint32_t>{0});
    wheel.expire(1'000'000 + 9'999'000, fire);
    EXPECT_EQ(fired.size(), 1u);
    wheel.expire(1'000'000 + 10'000'000, fire);
    EXPECT_EQ(fired, (std::vector<std::uint32_t>{0, 1}));
}

TEST(TimerWheel, NextDueBoundIsNeverLaterThanTheEarliestEntry) {
    TimerWheel wheel(4);
    wheel.begin(1'000'000);
    EXPECT_EQ(wheel.next_due_bound(), TimerWheel::no_deadline);
    wheel.schedule(0, 1'040'500);             // rounded up to the 1,041 ms tick
    wheel.schedule(1, 1'000'000 + 10'000'000);  // a later turn
    EXPECT_EQ(wheel.next_due_bound(), 1'041'000u);
    wheel.cancel(0);
    std::uint64_t bound = wheel.next_due_bound();  // entry 1's slot, one turn early
    EXPECT_LE(bound, 11'000'000u);
    EXPECT_GT(bound, 1'000'000u);
    wheel.cancel(1);
    EXPECT_EQ(wheel.next_due_bound(), TimerWheel::no_deadline);
}

TEST(TcbTable, InsertFindEraseKeepsProbeRunsIntact) {
    TcbTable table(64, SipKey{1, 2});
    std::vector<FourTuple> tuples;
    for (std::uint16_t p = 0; p < 64; ++p) {
        FourTuple t{1, 25, 2, std::uint16_t(1000 + p)};
        ASSERT_NE(table.insert(t), nullptr);
        tuples.push_back(t);
    }
    EXPECT_TRUE(table.full());
    for (std::size_t i = 0; i < tuples.size(); i += 2) table.erase(*table.find(tuples[i]));
    for (std::size_t i = 0; i < tuples.size(); ++i) {
        Tcb* found = table.find(tuples[i]);
        if (i % 2 == 0) {
            EXPECT_EQ(found, nullptr);
        } else {
            ASSERT_NE(found, nullptr);
            EXPECT_EQ(found->tuple, tuples[i]);
        }
    }
    EXPECT_EQ(table.in_use(), 32u);
}

TEST(RetransmitTimeout, Rfc6298_InitialOneSecondThenSrttRttvarWithFloorAndBackoff) {
    RetransmitTimeout rto;
    EXPECT_EQ(rto.current_us(), 1'000'000u);      // (2.1)
    rto.sample(100'000);                           // (2.2): SRTT 100 ms, RTTVAR 50 ms
    EXPECT_EQ(rto.current_us(), 300'000u);        // 100 + 4*50
    rto.sample(100'000);                           // RTTVAR 37.5 ms
    EXPECT_EQ(rto.current_us(), 250'000u);
    for (int i = 0; i < 10; ++i) rto.sample(1'000);
    EXPECT_EQ(rto.current_us(), 200'000u);        // the 200 ms floor (Linux-like deviation)
    rto.back_off();
    EXPECT_EQ(rto.current_us(), 400'000u);        // (5.5)
}

TEST(NewReno, Rfc6928_InitialWindowIsTenSegments_Rfc6582_PartialAckStaysInRecovery) {
    NewReno cc;
    cc.start(1460, 0);
    EXPECT_EQ(cc.cwnd(), 14600u);
    EXPECT_EQ(cc.on_duplicate_ack(1461, 8760, 8761, 1460), NewReno::Action::none);
    EXPECT_EQ(cc.on_duplicate_ack(1461, 8760, 8761, 1460), NewReno::Action::none);
    EXPECT_EQ(cc.on_duplicate_ack(1461, 8760, 8761, 1460), NewReno::Action::retransmit);
    EXPECT_EQ(cc.ssthresh(), 4380u);
    EXPECT_EQ(cc.cwnd(), 4380u + 3 * 1460);
    EXPECT_EQ(cc.on_new_ack(2921, 1460, 5840, 1460), NewReno::Action::retransmit);  // partial
    EXPECT_TRUE(cc.in_recovery());
    EXPECT_EQ(cc.on_new_ack(8761, 5840, 0, 1460), NewReno::Action::none);  // full
    EXPECT_FALSE(cc.in_recovery());
    EXPECT_EQ(cc.cwnd(), 2920u);
}

TEST(SynCookies, Rfc4987_3_6_ValidForTwoPeriodsAndBoundToTheTuple) {
    SynCookies cookies(SipKey{7, 9});
    FourTuple t{1, 25, 2, 4000};
    std::uint64_t now = 5 * SynCookies::period_us + 10;
    std::uint32_t cookie = cookies.make(t, 12345, 1460, now);
    EXPECT_EQ(cookies.check(t, 12345, cookie, now), std::optional<std::uint16_t>(1460));
    EXPECT_EQ(cookies.check(t, 12345, cookie, now + SynCookies::period_us), std::optional<std::uint16_t>(1460));
    EXPECT_FALSE(cookies.check(t, 12345, cookie, now + 2 * SynCookies::period_us));
    EXPECT_FALSE(cookies.check(t, 12346, cookie, now));
    FourTuple other = t;
    other.remote_port = 4001;
    EXPECT_FALSE(cookies.check(other, 12345, cookie, now));
}

}  // namespace
}  // namespace bm::tcp
