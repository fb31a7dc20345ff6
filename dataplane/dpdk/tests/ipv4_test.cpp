#include "dataplane/dpdk/ipv4.hpp"

#include <gtest/gtest.h>

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/tests/vectors.hpp"

namespace bm::dpdk {
namespace {

using vectors::Bytes;

DropReason parse(const Bytes& bytes, Ipv4Packet& packet, bool verify = true) {
    return parse_ipv4(bytes, verify, packet);
}

// Recomputes the header checksum after a test edits the header.
void fix_checksum(Bytes& bytes) {
    std::size_t header_length = std::size_t(bytes[0] & 0x0f) * 4;
    bytes[10] = bytes[11] = 0;
    std::uint16_t sum = checksum_finish(checksum_add(0, std::span(bytes).first(header_length)));
    bytes[10] = std::uint8_t(sum >> 8);
    bytes[11] = std::uint8_t(sum);
}

TEST(Ipv4, Rfc1071ExampleHeaderVerifies) {
    // The header of Wikipedia's worked example (checksum 0xb861).
    Bytes header = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                    0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    EXPECT_TRUE(checksum_verifies(checksum_add(0, header)));
    header[10] = header[11] = 0;
    EXPECT_EQ(checksum_finish(checksum_add(0, header)), 0xb861);
}

TEST(Ipv4, ParsesValidDatagram) {
    Ipv4Packet p;
    ASSERT_EQ(parse(vectors::syn, p), DropReason::none);
    EXPECT_EQ(p.header_length, 20);
    EXPECT_EQ(p.total_length, 60);
    EXPECT_EQ(p.protocol, ip_protocol_tcp);
    EXPECT_EQ(p.ttl, 64);
    EXPECT_EQ(p.source, vectors::client_ip);
    EXPECT_EQ(p.destination, vectors::server_ip);
    EXPECT_EQ(p.payload.size(), 40u);
}

TEST(Ipv4, EthernetPaddingIsTrimmedByTotalLength) {
    Bytes padded = vectors::echo_request;
    padded.resize(46, 0);  // minimum Ethernet payload
    Ipv4Packet p;
    ASSERT_EQ(parse(padded, p), DropReason::none);
    EXPECT_EQ(p.payload.size(), 16u);
}

TEST(Ipv4, BadChecksumDropped) {
    Bytes bytes = vectors::syn;
    bytes[11] ^= 0x01;
    Ipv4Packet p;
    EXPECT_EQ(parse(bytes, p), DropReason::ip_bad_checksum);
    EXPECT_EQ(parse(bytes, p, false), DropReason::none);  // the NIC verified it
}

TEST(Ipv4, TruncatedHeaderDropped) {
    Bytes bytes(vectors::syn.begin(), vectors::syn.begin() + 19);
    Ipv4Packet p;
    EXPECT_EQ(parse(bytes, p), DropReason::ip_truncated);
    EXPECT_EQ(parse({}, p), DropReason::ip_truncated);
}

TEST(Ipv4, IhlBeyondFrameIsTruncated) {
    Bytes bytes(vectors::syn.begin(), vectors::syn.begin() + 22);
    bytes[0] = 0x46;  // 24-byte header, 22 bytes present
    Ipv4Packet p;
    EXPECT_EQ(parse(bytes, p), DropReason::ip_truncated);
}

TEST(Ipv4, WrongVersionDropped) {
    Bytes bytes = vectors::syn;
    bytes[0] = 0x65;
    Ipv4Packet p;
    EXPECT_EQ(parse(bytes, p), DropReason::ip_bad_version);
}

TEST(Ipv4, IhlBelowFiveDropped) {
    Bytes bytes = vectors::syn;
    bytes[0] = 0x44;
    Ipv4Packet p;
    EXPECT_EQ(parse(bytes, p), DropReason::ip_bad_header_length);
}

TEST(Ipv4, TotalLengthLongerThanFrameDropped) {
    Bytes bytes = vectors::syn;
    bytes[3] = 61;  // one byte more than arrived
    fix_checksum(bytes);
    Ipv4Packet p;
    EXPECT_EQ(parse(bytes, p), DropReason::ip_bad_total_length);
}

TEST(Ipv4, TotalLengthShorterThanHeaderDropped) {
    Bytes bytes = vectors::syn;
    bytes[2] = 0;
    bytes[3] = 19;
    fix_checksum(bytes);
    Ipv4Packet p;
    EXPECT_EQ(parse(bytes, p), DropReason::ip_bad_total_length);
}

TEST(Ipv4, MoreFragmentsDropped) {
    Bytes bytes = vectors::syn;
    bytes[6] = 0x20;  // MF, offset 0: a first fragment
    fix_checksum(bytes);
    Ipv4Packet p;
    EXPECT_EQ(parse(bytes, p), DropReason::ip_fragment);
}

TEST(Ipv4, NonZeroFragmentOffsetDropped) {
    Bytes bytes = vectors::syn;
    bytes[6] = 0x00;
    bytes[7] = 0x10;  // last fragment at offset 128
    fix_checksum(bytes);
    Ipv4Packet p;
    EXPECT_EQ(parse(bytes, p), DropReason::ip_fragment);
}

TEST(Ipv4, DontFragmentAlone_IsNotAFragment) {
    Ipv4Packet p;
    EXPECT_EQ(parse(vectors::syn, p), DropReason::none);  // the vector has DF set
}

namespace {

// The echo request with `options` (a multiple of 4 octets) after its header.
Bytes with_options(std::initializer_list<std::uint8_t> options) {
    Bytes bytes = vectors::echo_request;
    bytes.insert(bytes.begin() + 20, options);
    bytes[0] = std::uint8_t(0x40 | ((20 + options.size()) / 4));
    bytes[3] = std::uint8_t(bytes.size());
    fix_checksum(bytes);
    return bytes;
}

}  // namespace

// RFC 1122 §3.2.1.8: options a host does not implement are ignored.
TEST(Ipv4, Rfc1122_3_2_1_8_NopAndEolOnlyOptionsAccepted) {
    Bytes bytes = with_options({0x01, 0x01, 0x01, 0x00});
    Ipv4Packet p;
    ASSERT_EQ(parse(bytes, p), DropReason::none);
    EXPECT_EQ(p.header_length, 24);
    EXPECT_EQ(p.payload.size(), vectors::echo_request.size() - 20);  // the ICMP message, after the options
    EXPECT_EQ(p.payload[0], 8);                                       // echo request
}

TEST(Ipv4, Rfc1122_3_2_1_8_RecordRouteAndTimestampIgnored) {
    Bytes rr = with_options({0x07, 0x07, 0x04, 0, 0, 0, 0, 0x01});  // record route, one slot, NOP
    Ipv4Packet p;
    EXPECT_EQ(parse(rr, p), DropReason::none);
    Bytes ts = with_options({0x44, 0x08, 0x05, 0x00, 0, 0, 0, 0});  // timestamp, one slot
    EXPECT_EQ(parse(ts, p), DropReason::none);
}

// Deliberate (README): source routes are refused, not reversed.
TEST(Ipv4, SourceRouteOptionsRefusedOnPurpose) {
    Ipv4Packet p;
    EXPECT_EQ(parse(with_options({0x83, 0x07, 0x04, 10, 99, 0, 9, 0x00}), p), DropReason::ip_source_route);
    EXPECT_EQ(parse(with_options({0x01, 0x89, 0x07, 0x04, 10, 99, 0, 9}), p), DropReason::ip_source_route);
}

TEST(Ipv4, OptionRunningPastTheHeaderDropped) {
    Ipv4Packet p;
    EXPECT_EQ(parse(with_options({0x01, 0x01, 0x07, 0x09}), p), DropReason::ip_bad_options);  // length 9 > 2 left
    EXPECT_EQ(parse(with_options({0x01, 0x01, 0x01, 0x44}), p), DropReason::ip_bad_options);  // no length octet
    EXPECT_EQ(parse(with_options({0x07, 0x01, 0x00, 0x00}), p), DropReason::ip_bad_options);  // length < 2
}

// RFC 1122 §3.2.1.7: a host must not discard a datagram for a TTL below 2.
TEST(Ipv4, Rfc1122_3_2_1_7_TtlZeroAccepted) {
    Bytes bytes = vectors::syn;
    bytes[8] = 0;
    fix_checksum(bytes);
    Ipv4Packet p;
    EXPECT_EQ(parse(bytes, p), DropReason::none);
    EXPECT_EQ(p.ttl, 0);
}

TEST(Ipv4, EmitMatchesScapy) {
    Bytes header(20);
    emit_ipv4(header, {vectors::server_ip, vectors::client_ip, ip_protocol_tcp, 28, 0, true});
    EXPECT_EQ(header, Bytes(vectors::data_segment.begin(), vectors::data_segment.begin() + 20));
}

TEST(Ipv4, EmitWithOffloadLeavesChecksumZero) {
    Bytes header(20);
    emit_ipv4(header, {vectors::server_ip, vectors::client_ip, ip_protocol_tcp, 28, 0, false});
    EXPECT_EQ(header[10], 0);
    EXPECT_EQ(header[11], 0);
}

TEST(Ipv4, MartianSources) {
    EXPECT_TRUE(is_martian_source(0));
    EXPECT_TRUE(is_martian_source(0xffffffff));
    EXPECT_TRUE(is_martian_source(0x7f000001));  // 127.0.0.1
    EXPECT_TRUE(is_martian_source(0xe0000001));  // 224.0.0.1
    EXPECT_FALSE(is_martian_source(vectors::client_ip));
}

TEST(Ipv4, SubnetOnLink) {
    Subnet s{vectors::server_ip, 24};
    EXPECT_TRUE(s.on_link(vectors::client_ip));
    EXPECT_FALSE(s.on_link(0x0a630102));  // 10.99.1.2
    EXPECT_EQ(s.directed_broadcast(), 0x0a6300ffu);
    Subnet host{vectors::server_ip, 32};
    EXPECT_FALSE(host.on_link(vectors::client_ip));
}

}  // namespace
}  // namespace bm::dpdk
