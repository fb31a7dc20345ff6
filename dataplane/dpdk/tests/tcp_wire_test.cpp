#include "dataplane/dpdk/tcp_wire.hpp"

#include <gtest/gtest.h>

#include <string>

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/ipv4.hpp"
#include "dataplane/dpdk/tests/vectors.hpp"

namespace bm::dpdk {
namespace {

using vectors::Bytes;

Bytes segment_of(const Bytes& ip) { return Bytes(ip.begin() + 20, ip.end()); }

DropReason parse(const Bytes& segment, tcp::SegmentIn& out, bool verify = true) {
    return parse_tcp(segment, vectors::client_ip, vectors::server_ip, verify, out);
}

// Recomputes the TCP checksum after a test edits the segment.
void fix_checksum(Bytes& segment, std::uint32_t source = vectors::client_ip,
                  std::uint32_t destination = vectors::server_ip) {
    segment[16] = segment[17] = 0;
    std::uint64_t sum = pseudo_header_sum(source, destination, ip_protocol_tcp, std::uint16_t(segment.size()));
    std::uint16_t c = checksum_finish(checksum_add(sum, segment));
    segment[16] = std::uint8_t(c >> 8);
    segment[17] = std::uint8_t(c);
}

TEST(TcpWire, ParsesSynWithAllOptions) {
    tcp::SegmentIn s;
    ASSERT_EQ(parse(segment_of(vectors::syn), s), DropReason::none);
    EXPECT_EQ(s.tuple.local_ip, vectors::server_ip);
    EXPECT_EQ(s.tuple.local_port, 2500);
    EXPECT_EQ(s.tuple.remote_ip, vectors::client_ip);
    EXPECT_EQ(s.tuple.remote_port, 40000);
    EXPECT_EQ(s.seq, 1000u);
    EXPECT_EQ(s.ack, 0u);
    EXPECT_EQ(s.flags, tcp::SYN);
    EXPECT_EQ(s.window, 64240);
    EXPECT_EQ(s.options.mss, 1460);
    EXPECT_TRUE(s.options.sack_permitted);
    EXPECT_TRUE(s.options.has_timestamps);
    EXPECT_EQ(s.options.ts_value, 12345u);
    EXPECT_EQ(s.options.ts_echo, 0u);
    EXPECT_EQ(s.options.window_scale, 7);
    EXPECT_TRUE(s.payload.empty());
}

TEST(TcpWire, ParsesDataSegmentPayload) {
    Bytes segment = segment_of(vectors::data_segment);
    tcp::SegmentIn s;
    ASSERT_EQ(parse_tcp(segment, vectors::server_ip, vectors::client_ip, true, s), DropReason::none);
    EXPECT_EQ(s.flags, tcp::PSH | tcp::ACK);
    EXPECT_EQ(std::string(s.payload.begin(), s.payload.end()), "220 hi\r\n");
    EXPECT_EQ(s.options.mss, 0);
    EXPECT_EQ(s.options.window_scale, -1);
}

TEST(TcpWire, BadChecksumDropped) {
    Bytes segment = segment_of(vectors::syn);
    segment[5] ^= 0x01;  // seq changed after the checksum was computed
    tcp::SegmentIn s;
    EXPECT_EQ(parse(segment, s), DropReason::tcp_bad_checksum);
    EXPECT_EQ(parse(segment, s, false), DropReason::none);  // NIC-verified
}

TEST(TcpWire, PseudoHeaderCoversAddresses) {
    tcp::SegmentIn s;
    EXPECT_EQ(parse_tcp(segment_of(vectors::syn), vectors::client_ip, vectors::server_ip + 1, true, s),
              DropReason::tcp_bad_checksum);
}

TEST(TcpWire, TruncatedHeaderDropped) {
    Bytes segment = segment_of(vectors::syn);
    segment.resize(19);
    tcp::SegmentIn s;
    EXPECT_EQ(parse(segment, s, false), DropReason::tcp_truncated);
}

TEST(TcpWire, DataOffsetBeyondSegmentDropped) {
    Bytes segment = segment_of(vectors::syn);
    segment.resize(36);  // header says 40
    fix_checksum(segment);
    tcp::SegmentIn s;
    EXPECT_EQ(parse(segment, s), DropReason::tcp_bad_header_length);
}

TEST(TcpWire, DataOffsetBelowFiveDropped) {
    Bytes segment = segment_of(vectors::syn);
    segment[12] = 0x40;
    fix_checksum(segment);
    tcp::SegmentIn s;
    EXPECT_EQ(parse(segment, s), DropReason::tcp_bad_header_length);
}

TEST(TcpWire, PortZeroDropped) {
    Bytes segment = segment_of(vectors::syn);
    segment[0] = segment[1] = 0;
    fix_checksum(segment);
    tcp::SegmentIn s;
    EXPECT_EQ(parse(segment, s), DropReason::tcp_bad_port);
}

// Options are bytes 20..39 of the SYN: 02 04 05 b4 | 04 02 | 08 0a ts ts | 01 | 03 03 07
TEST(TcpWire, OptionLengthRunningPastHeaderDropped) {
    Bytes segment = segment_of(vectors::syn);
    segment[37] = 4;  // window scale claims 4 bytes, 3 remain
    fix_checksum(segment);
    tcp::SegmentIn s;
    EXPECT_EQ(parse(segment, s), DropReason::tcp_bad_options);
}

TEST(TcpWire, OptionLengthBelowTwoDropped) {
    Bytes segment = segment_of(vectors::syn);
    segment[25] = 0;  // SACK-permitted with length 0 would loop forever
    fix_checksum(segment);
    tcp::SegmentIn s;
    EXPECT_EQ(parse(segment, s), DropReason::tcp_bad_options);
}

TEST(TcpWire, KnownOptionWithWrongLengthDropped) {
    tcp::TcpOptions o;
    Bytes mss3 = {0x02, 0x03, 0x05, 0x01};
    EXPECT_EQ(parse_tcp_options(mss3, o), DropReason::tcp_bad_options);
    Bytes ts8 = {0x08, 0x08, 0, 0, 0, 1, 0, 0};
    EXPECT_EQ(parse_tcp_options(ts8, o), DropReason::tcp_bad_options);
    Bytes sack_odd = {0x05, 0x06, 0, 0, 0, 1};  // SACK blocks are 8 bytes
    EXPECT_EQ(parse_tcp_options(sack_odd, o), DropReason::tcp_bad_options);
}

TEST(TcpWire, KindWithoutLengthOctetDropped) {
    tcp::TcpOptions o;
    Bytes lone = {0x01, 0x01, 0x01, 0x02};
    EXPECT_EQ(parse_tcp_options(lone, o), DropReason::tcp_bad_options);
}

TEST(TcpWire, UnknownOptionSkippedAndEolStops) {
    tcp::TcpOptions o;
    Bytes options = {0x1e, 0x04, 0xaa, 0xbb, 0x02, 0x04, 0x02, 0x18, 0x00, 0xff, 0xff, 0xff};
    ASSERT_EQ(parse_tcp_options(options, o), DropReason::none);
    EXPECT_EQ(o.mss, 536);  // after the unknown kind 30; the garbage after EOL is ignored
}

TEST(TcpWire, WindowScaleAbove14UsedAs14) {
    tcp::TcpOptions o;
    Bytes options = {0x01, 0x03, 0x03, 0x20};
    ASSERT_EQ(parse_tcp_options(options, o), DropReason::none);
    EXPECT_EQ(o.window_scale, 14);
}

tcp::SegmentOut data_header() {
    tcp::SegmentOut h;
    h.tuple = {vectors::server_ip, 2500, vectors::client_ip, 40000};
    h.seq = 5000;
    h.ack = 1001;
    h.flags = tcp::PSH | tcp::ACK;
    h.window = 512;
    return h;
}

TEST(TcpWire, EmitMatchesScapy) {
    std::string text = "220 hi\r\n";
    Bytes payload(text.begin(), text.end());
    Bytes frame(1514);
    FrameEnds ends{{{0x02, 0, 0, 0, 0, 1}}, {{0x02, 0, 0, 0, 0, 2}}, 0};
    std::size_t length = emit_tcp_frame(frame, ends, data_header(), payload, {}, {});
    ASSERT_EQ(length, 14 + vectors::data_segment.size());
    EXPECT_EQ(Bytes(frame.begin() + 14, frame.begin() + std::ptrdiff_t(length)), vectors::data_segment);
    EXPECT_EQ(frame[0], 0x02);
    EXPECT_EQ(frame[5], 2);   // destination first
    EXPECT_EQ(frame[11], 1);  // then our source
    EXPECT_EQ(frame[12], 0x08);
    EXPECT_EQ(frame[13], 0x00);
}

TEST(TcpWire, PayloadInTwoPiecesSameAsOne) {
    std::string text = "220 hi\r\n";
    Bytes a(text.begin(), text.begin() + 3), b(text.begin() + 3, text.end());
    Bytes frame(1514);
    std::size_t length = emit_tcp_frame(frame, {}, data_header(), a, b, {});
    EXPECT_EQ(Bytes(frame.begin() + 14, frame.begin() + std::ptrdiff_t(length)), vectors::data_segment);
}

TEST(TcpWire, SynAckOptionsRoundTrip) {
    tcp::SegmentOut h = data_header();
    h.flags = tcp::SYN | tcp::ACK;
    h.options.mss = 1460;
    h.options.window_scale = 7;
    h.options.sack_permitted = true;
    h.options.has_timestamps = true;
    h.options.ts_value = 0xdeadbeef;
    h.options.ts_echo = 12345;
    EXPECT_EQ(tcp_options_length(h.options), 20u);
    Bytes frame(1514);
    std::size_t length = emit_tcp_frame(frame, {}, h, {}, {}, {});
    ASSERT_EQ(length, 14u + 20 + 40);
    Ipv4Packet ip;
    ASSERT_EQ(parse_ipv4(std::span(frame).subspan(14, length - 14), true, ip), DropReason::none);
    tcp::SegmentIn s;
    ASSERT_EQ(parse_tcp(ip.payload, ip.source, ip.destination, true, s), DropReason::none);
    EXPECT_EQ(s.flags, tcp::SYN | tcp::ACK);
    EXPECT_EQ(s.options.mss, 1460);
    EXPECT_EQ(s.options.window_scale, 7);
    EXPECT_TRUE(s.options.sack_permitted);
    EXPECT_TRUE(s.options.has_timestamps);
    EXPECT_EQ(s.options.ts_value, 0xdeadbeefu);
    EXPECT_EQ(s.options.ts_echo, 12345u);
    EXPECT_EQ(s.tuple.local_ip, vectors::client_ip);  // the receiver's view
}

TEST(TcpWire, OptionSubsetsRoundTrip) {
    for (int mask = 0; mask < 8; ++mask) {
        tcp::SegmentOut h = data_header();
        h.options.sack_permitted = mask & 1;
        h.options.has_timestamps = mask & 2;
        h.options.window_scale = (mask & 4) ? 0 : -1;
        Bytes frame(1514);
        std::size_t length = emit_tcp_frame(frame, {}, h, {}, {}, {});
        ASSERT_GT(length, 0u);
        tcp::SegmentIn s;
        auto segment = std::span(frame).subspan(34, length - 34);
        ASSERT_EQ(parse_tcp(segment, vectors::server_ip, vectors::client_ip, true, s), DropReason::none) << mask;
        EXPECT_EQ(s.options.sack_permitted, h.options.sack_permitted);
        EXPECT_EQ(s.options.has_timestamps, h.options.has_timestamps);
        EXPECT_EQ(s.options.window_scale, h.options.window_scale);
    }
}

TEST(TcpWire, OffloadLeavesPseudoHeaderSum) {
    Bytes frame(1514);
    std::size_t length = emit_tcp_frame(frame, {}, data_header(), {}, {}, {true, true});
    ASSERT_EQ(length, 54u);
    EXPECT_EQ(frame[24], 0);  // IP checksum left for the NIC
    EXPECT_EQ(frame[25], 0);
    std::uint16_t expected = checksum_fold(pseudo_header_sum(vectors::server_ip, vectors::client_ip, 6, 20));
    EXPECT_EQ((frame[50] << 8) | frame[51], expected);
}

TEST(TcpWire, FrameThatDoesNotFitIsRefused) {
    Bytes frame(60);
    Bytes payload(10, 'x');
    EXPECT_EQ(emit_tcp_frame(frame, {}, data_header(), payload, {}, {}), 0u);
}

}  // namespace
}  // namespace bm::dpdk
