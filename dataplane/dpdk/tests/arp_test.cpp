#include "dataplane/dpdk/arp.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace bm::dpdk {
namespace {

using Bytes = std::vector<std::uint8_t>;

const MacAddress client_mac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
const MacAddress our_mac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
constexpr std::uint32_t client_ip = 0x0a630002, server_ip = 0x0a630001;

// "Who has 10.99.0.1? Tell 10.99.0.2", as tcpdump -x shows it (no Ethernet header).
const Bytes request = {0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00,
                       0x00, 0x02, 0x0a, 0x63, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                       0x0a, 0x63, 0x00, 0x01};

TEST(Arp, ParsesRequest) {
    ArpPacket p;
    ASSERT_EQ(parse_arp(request, p), DropReason::none);
    EXPECT_EQ(p.operation, arp_request);
    EXPECT_EQ(p.sender_mac, client_mac);
    EXPECT_EQ(p.sender_ip, client_ip);
    EXPECT_EQ(p.target_ip, server_ip);
}

TEST(Arp, EmitRoundTrips) {
    ArpPacket reply{arp_reply, our_mac, server_ip, client_mac, client_ip};
    Bytes bytes(arp_packet_size);
    emit_arp(bytes, reply);
    ArpPacket back;
    ASSERT_EQ(parse_arp(bytes, back), DropReason::none);
    EXPECT_EQ(back.operation, arp_reply);
    EXPECT_EQ(back.sender_mac, our_mac);
    EXPECT_EQ(back.sender_ip, server_ip);
    EXPECT_EQ(back.target_mac, client_mac);
    EXPECT_EQ(back.target_ip, client_ip);
    // Same layout as the request apart from operation and addresses.
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.begin() + 6, request.begin()));
}

TEST(Arp, TruncatedDropped) {
    ArpPacket p;
    EXPECT_EQ(parse_arp(Bytes(request.begin(), request.begin() + 27), p), DropReason::arp_truncated);
}

TEST(Arp, NonEthernetOrNonIpv4Unsupported) {
    ArpPacket p;
    Bytes bytes = request;
    bytes[1] = 6;  // IEEE 802 hardware
    EXPECT_EQ(parse_arp(bytes, p), DropReason::arp_unsupported);
    bytes = request;
    bytes[5] = 16;  // protocol length of IPv6
    EXPECT_EQ(parse_arp(bytes, p), DropReason::arp_unsupported);
    bytes = request;
    bytes[7] = 3;  // RARP request
    EXPECT_EQ(parse_arp(bytes, p), DropReason::arp_unsupported);
}

TEST(ArpCache, UnknownAddressAsksOnceThenWaits) {
    ArpCache cache;
    auto first = cache.lookup(client_ip, 0);
    EXPECT_FALSE(first.mac);
    EXPECT_TRUE(first.send_request);
    auto again = cache.lookup(client_ip, 500'000);
    EXPECT_FALSE(again.mac);
    EXPECT_FALSE(again.send_request);  // rate-limited
    auto later = cache.lookup(client_ip, 1'000'000);
    EXPECT_TRUE(later.send_request);
}

TEST(ArpCache, ReplyResolves) {
    ArpCache cache;
    cache.lookup(client_ip, 0);
    cache.update(client_ip, client_mac, 10, false);  // merge into the incomplete entry
    auto found = cache.lookup(client_ip, 20);
    ASSERT_TRUE(found.mac);
    EXPECT_EQ(*found.mac, client_mac);
    EXPECT_EQ(cache.resolved_entries(), 1u);
}

TEST(ArpCache, MergeWithoutCreateIgnoresStrangers) {
    ArpCache cache;
    cache.update(client_ip, client_mac, 0, false);
    EXPECT_EQ(cache.resolved_entries(), 0u);
    cache.update(client_ip, client_mac, 0, true);
    EXPECT_EQ(cache.resolved_entries(), 1u);
}

TEST(ArpCache, EntriesAgeOut) {
    ArpTiming timing;
    ArpCache cache(timing);
    cache.update(client_ip, client_mac, 0, true);
    EXPECT_TRUE(cache.lookup(client_ip, timing.entry_lifetime_us - 1).mac);
    auto aged = cache.lookup(client_ip, timing.entry_lifetime_us);
    EXPECT_FALSE(aged.mac);
    EXPECT_TRUE(aged.send_request);
}

TEST(ArpCache, FullCacheEvictsOldest) {
    ArpCache cache;
    for (std::uint32_t i = 0; i < ArpCache::capacity; ++i) cache.update(0x0a630100 + i, client_mac, 100 + i, true);
    cache.update(client_ip, client_mac, 10'000, true);
    EXPECT_EQ(cache.resolved_entries(), ArpCache::capacity);
    EXPECT_TRUE(cache.lookup(client_ip, 10'001).mac);
    EXPECT_TRUE(cache.lookup(0x0a630101, 10'001).mac);
    EXPECT_FALSE(cache.lookup(0x0a630100, 10'001).mac);  // the oldest went
}

TEST(ArpPending, BoundedAndReleasedInOrder) {
    ArpPending<int, 3> pending;
    EXPECT_TRUE(pending.push(client_ip, 1, 0));
    EXPECT_TRUE(pending.push(0x0a630003, 2, 0));
    EXPECT_TRUE(pending.push(client_ip, 3, 0));
    EXPECT_FALSE(pending.push(client_ip, 4, 0));
    std::vector<int> sent;
    pending.resolve(client_ip, [&](int f) { sent.push_back(f); });
    EXPECT_EQ(sent, (std::vector<int>{1, 3}));
    EXPECT_EQ(pending.size(), 1u);
}

TEST(ArpPending, ExpiresOldFrames) {
    ArpPending<int, 4> pending;
    pending.push(client_ip, 1, 0);
    pending.push(client_ip, 2, 2'000'000);
    std::vector<int> dropped;
    pending.expire(3'000'000, 3'000'000, [&](int f) { dropped.push_back(f); });
    EXPECT_EQ(dropped, std::vector<int>{1});
    EXPECT_EQ(pending.size(), 1u);
}

}  // namespace
}  // namespace bm::dpdk

namespace bm::dpdk {
namespace {

TEST(ArpCache, LearnFromIpFillsButNeverMovesAnAddress) {
    const MacAddress other{{0x02, 0, 0, 0, 0, 9}};
    ArpCache cache;
    cache.lookup(client_ip, 0);  // incomplete
    cache.learn(client_ip, client_mac, 1);
    EXPECT_EQ(*cache.lookup(client_ip, 2).mac, client_mac);
    cache.learn(client_ip, other, 3);
    EXPECT_EQ(*cache.lookup(client_ip, 4).mac, client_mac);
    cache.update(client_ip, other, 5, false);  // ARP itself may
    EXPECT_EQ(*cache.lookup(client_ip, 6).mac, other);
}

}  // namespace
}  // namespace bm::dpdk
