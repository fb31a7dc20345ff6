#include "harness/mailgun/capture_file.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "harness/mailgun/captured_segment.hpp"
#include "tcp/engine.hpp"

namespace bm::mailgun {
namespace {

using Bytes = std::vector<std::uint8_t>;

void put16be(Bytes& b, std::uint16_t v) {
    b.push_back(std::uint8_t(v >> 8));
    b.push_back(std::uint8_t(v));
}
void put32be(Bytes& b, std::uint32_t v) {
    put16be(b, std::uint16_t(v >> 16));
    put16be(b, std::uint16_t(v));
}
void put16le(Bytes& b, std::uint16_t v) {
    b.push_back(std::uint8_t(v));
    b.push_back(std::uint8_t(v >> 8));
}
void put32le(Bytes& b, std::uint32_t v) {
    put16le(b, std::uint16_t(v));
    put16le(b, std::uint16_t(v >> 16));
}

// Ethernet (optionally 802.1Q-tagged) + IPv4 + TCP carrying `payload`.
Bytes frame(const std::string& payload, bool vlan = false) {
    Bytes f(12, 0x02);  // MAC addresses
    if (vlan) {
        put16be(f, 0x8100);
        put16be(f, 7);
    }
    put16be(f, 0x0800);
    f.push_back(0x45);
    f.push_back(0);
    put16be(f, std::uint16_t(40 + payload.size()));
    put32be(f, 0x00004000);  // id 0, DF
    f.push_back(64);
    f.push_back(6);
    put16be(f, 0);  // checksum: not verified (offload captures)
    put32be(f, 0x0a630002);
    put32be(f, 0x0a630001);
    put16be(f, 40000);
    put16be(f, 2500);
    put32be(f, 1001);
    put32be(f, 2002);
    f.push_back(0x50);
    f.push_back(tcp::ACK | tcp::PSH);
    put16be(f, 65535);
    put32be(f, 0);  // checksum, urgent
    f.insert(f.end(), payload.begin(), payload.end());
    return f;
}

Bytes pcap_file(const std::vector<Bytes>& frames, bool nanoseconds) {
    Bytes b;
    put32le(b, nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4);
    put16le(b, 2);
    put16le(b, 4);
    put32le(b, 0);
    put32le(b, 0);
    put32le(b, 65535);
    put32le(b, 1);  // Ethernet
    std::uint32_t second = 100;
    for (const Bytes& f : frames) {
        put32le(b, second++);
        put32le(b, 500);
        put32le(b, std::uint32_t(f.size()));
        put32le(b, std::uint32_t(f.size()));
        b.insert(b.end(), f.begin(), f.end());
    }
    return b;
}

void block(Bytes& b, std::uint32_t type, const Bytes& body) {
    std::uint32_t length = std::uint32_t(12 + body.size());
    put32le(b, type);
    put32le(b, length);
    b.insert(b.end(), body.begin(), body.end());
    put32le(b, length);
}

// pcapng: section header, an interface with if_tsresol 10^-9, one
// enhanced packet block.
Bytes pcapng_file(const Bytes& f, std::uint64_t stamp) {
    Bytes b, shb, idb, epb;
    put32le(shb, 0x1a2b3c4d);
    put16le(shb, 1);
    put16le(shb, 0);
    put32le(shb, 0xffffffff);
    put32le(shb, 0xffffffff);
    block(b, 0x0a0d0d0a, shb);
    put16le(idb, 1);
    put16le(idb, 0);
    put32le(idb, 65535);
    put16le(idb, 9);  // if_tsresol
    put16le(idb, 1);
    idb.insert(idb.end(), {9, 0, 0, 0});
    put16le(idb, 0);  // opt_endofopt
    put16le(idb, 0);
    block(b, 1, idb);
    put32le(epb, 0);
    put32le(epb, std::uint32_t(stamp >> 32));
    put32le(epb, std::uint32_t(stamp));
    put32le(epb, std::uint32_t(f.size()));
    put32le(epb, std::uint32_t(f.size()));
    epb.insert(epb.end(), f.begin(), f.end());
    while (epb.size() % 4) epb.push_back(0);
    block(b, 6, epb);
    return b;
}

std::string payload_of(const CapturedSegment& s) {
    return std::string(reinterpret_cast<const char*>(s.payload.data()), s.payload.size());
}

TEST(CaptureReader, ClassicPcapFramesDecodeToTcpSegments) {
    CaptureReader reader(pcap_file({frame("220 hi\r\n"), frame("250 ok\r\n", true)}, false));
    CapturedFrame f;
    ASSERT_TRUE(reader.next(f));
    EXPECT_EQ(f.time_ns, 100'000'500'000u);
    auto s = decode_segment(f);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->source_ip, 0x0a630002u);
    EXPECT_EQ(s->destination_port, 2500);
    EXPECT_EQ(s->seq, 1001u);
    EXPECT_EQ(s->ack, 2002u);
    EXPECT_EQ(payload_of(*s), "220 hi\r\n");
    ASSERT_TRUE(reader.next(f));
    auto tagged = decode_segment(f);
    ASSERT_TRUE(tagged);
    EXPECT_EQ(payload_of(*tagged), "250 ok\r\n");
    EXPECT_FALSE(reader.next(f));
    EXPECT_EQ(reader.truncated_blocks(), 0u);
}

TEST(CaptureReader, NanosecondPcapKeepsNanoseconds) {
    CaptureReader reader(pcap_file({frame("x")}, true));
    CapturedFrame f;
    ASSERT_TRUE(reader.next(f));
    EXPECT_EQ(f.time_ns, 100'000'000'500u);
}

TEST(CaptureReader, PcapngUsesTheInterfaceTimeResolution) {
    CaptureReader reader(pcapng_file(frame("+OK\r\n"), 1'234'567'890'123u));
    CapturedFrame f;
    ASSERT_TRUE(reader.next(f));
    EXPECT_EQ(f.time_ns, 1'234'567'890'123u);
    EXPECT_EQ(f.linktype, 1u);
    auto s = decode_segment(f);
    ASSERT_TRUE(s);
    EXPECT_EQ(payload_of(*s), "+OK\r\n");
    EXPECT_FALSE(reader.next(f));
}

TEST(CaptureReader, ARecordCutShortEndsTheFileAndIsCounted) {
    Bytes b = pcap_file({frame("220 hi\r\n"), frame("250 ok\r\n")}, false);
    b.resize(b.size() - 3);
    CaptureReader reader(b);
    CapturedFrame f;
    EXPECT_TRUE(reader.next(f));
    EXPECT_FALSE(reader.next(f));
    EXPECT_EQ(reader.truncated_blocks(), 1u);
}

TEST(CaptureReader, OtherFilesAreRefused) {
    EXPECT_THROW(CaptureReader(Bytes(100, 'x')), CaptureError);
    EXPECT_THROW(CaptureReader(Bytes(3, 0)), CaptureError);
}

TEST(DecodeSegment, NonTcpAndCutFramesGiveNothing) {
    Bytes f = frame("abc");
    f[23] = 17;  // UDP
    CapturedFrame c{0, 1, f};
    EXPECT_FALSE(decode_segment(c));
    Bytes cut = frame("abc");
    cut.resize(30);
    EXPECT_FALSE(decode_segment({0, 1, cut}));
}

}  // namespace
}  // namespace bm::mailgun
