#include "dataplane/dpdk/udp.hpp"

#include <gtest/gtest.h>

#include <string>

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/ethernet.hpp"
#include "dataplane/dpdk/ipv4.hpp"
#include "dataplane/dpdk/tests/vectors.hpp"

namespace bm::dpdk {
namespace {

using vectors::Bytes;

Bytes datagram() { return Bytes(vectors::udp.begin() + 20, vectors::udp.end()); }

TEST(Udp, ParsesValidDatagram) {
    Bytes bytes = datagram();
    UdpDatagram d;
    ASSERT_EQ(parse_udp(bytes, vectors::client_ip, vectors::server_ip, true, d), DropReason::none);
    EXPECT_EQ(d.source_port, 5353);
    EXPECT_EQ(d.destination_port, 53);
    EXPECT_EQ(std::string(d.payload.begin(), d.payload.end()), "hello");
}

TEST(Udp, BadChecksumDropped) {
    Bytes bytes = datagram();
    bytes.back() ^= 0x01;
    UdpDatagram d;
    EXPECT_EQ(parse_udp(bytes, vectors::client_ip, vectors::server_ip, true, d), DropReason::udp_bad_checksum);
    // Wrong pseudo-header (another destination) fails too.
    EXPECT_EQ(parse_udp(datagram(), vectors::client_ip, vectors::server_ip + 1, true, d),
              DropReason::udp_bad_checksum);
}

TEST(Udp, ZeroChecksumMeansNone) {
    Bytes bytes = datagram();
    bytes[6] = bytes[7] = 0;
    UdpDatagram d;
    EXPECT_EQ(parse_udp(bytes, vectors::client_ip, vectors::server_ip, true, d), DropReason::none);
}

TEST(Udp, LengthFieldNeverTrusted) {
    Bytes bytes = datagram();
    UdpDatagram d;
    bytes[5] = 14;  // one more than arrived
    EXPECT_EQ(parse_udp(bytes, vectors::client_ip, vectors::server_ip, false, d), DropReason::udp_bad_length);
    bytes[5] = 7;  // shorter than the header
    EXPECT_EQ(parse_udp(bytes, vectors::client_ip, vectors::server_ip, false, d), DropReason::udp_bad_length);
    Bytes short_header(bytes.begin(), bytes.begin() + 7);
    EXPECT_EQ(parse_udp(short_header, vectors::client_ip, vectors::server_ip, false, d), DropReason::udp_truncated);
}

TEST(Udp, EmitMatchesScapy) {
    Bytes bytes(13, 0);
    std::string hello = "hello";
    std::copy(hello.begin(), hello.end(), bytes.begin() + 8);
    EXPECT_EQ(emit_udp(bytes, {vectors::client_ip, vectors::server_ip, 5353, 53}), 13u);
    EXPECT_EQ(bytes, datagram());
}

const FrameEnds ends{{{0x02, 0, 0, 0, 0, 1}}, {{0x02, 0, 0, 0, 0, 2}}, 7};
const UdpEmit hello_header{vectors::client_ip, vectors::server_ip, 5353, 53};

Bytes hello() { return {'h', 'e', 'l', 'l', 'o'}; }

TEST(Udp, Rfc768_FrameParsesBackWithEveryChecksumValid) {
    Bytes frame(1514);
    std::size_t length = emit_udp_frame(frame, ends, hello_header, hello(), {});
    ASSERT_EQ(length, 14u + 20 + 8 + 5);
    frame.resize(length);
    EthernetHeader ethernet;
    ASSERT_EQ(parse_ethernet(frame, ethernet), DropReason::none);
    EXPECT_EQ(ethernet.destination, ends.destination);
    EXPECT_EQ(ethernet.source, ends.source);
    EXPECT_EQ(ethernet.ethertype, ethertype_ipv4);
    Ipv4Packet ip;
    ASSERT_EQ(parse_ipv4(std::span(frame).subspan(14), true, ip), DropReason::none);
    EXPECT_EQ(ip.protocol, ip_protocol_udp);
    EXPECT_EQ(ip.source, vectors::client_ip);
    EXPECT_EQ(ip.destination, vectors::server_ip);
    EXPECT_EQ(ip.identification, 7);
    UdpDatagram d;
    ASSERT_EQ(parse_udp(ip.payload, ip.source, ip.destination, true, d), DropReason::none);
    EXPECT_EQ(d.source_port, 5353);
    EXPECT_EQ(d.destination_port, 53);
    // The datagram itself is byte for byte what Scapy built.
    EXPECT_EQ(Bytes(ip.payload.begin(), ip.payload.end()), datagram());
}

TEST(Udp, OffloadLeavesThePseudoHeaderSumForTheNic) {
    Bytes frame(1514);
    std::size_t length = emit_udp_frame(frame, ends, hello_header, hello(), {true, true, true});
    ASSERT_GT(length, 0u);
    EXPECT_EQ(load_be16(&frame[14 + 10]), 0);  // IP header checksum left to the NIC
    std::uint64_t pseudo = pseudo_header_sum(vectors::client_ip, vectors::server_ip, ip_protocol_udp, 13);
    EXPECT_EQ(load_be16(&frame[14 + 20 + 6]), checksum_fold(pseudo));
}

TEST(Udp, Rfc768_ComputedZeroIsSentAsAllOnes) {
    // Choose two payload octets that make the sum come out as zero.
    Bytes payload = {0, 0};
    Bytes frame(1514);
    emit_udp_frame(frame, ends, hello_header, payload, {});
    std::uint16_t first = load_be16(&frame[14 + 20 + 6]);
    payload = {std::uint8_t(first >> 8), std::uint8_t(first)};
    std::size_t length = emit_udp_frame(frame, ends, hello_header, payload, {});
    EXPECT_EQ(load_be16(&frame[14 + 20 + 6]), 0xffff);
    Ipv4Packet ip;
    ASSERT_EQ(parse_ipv4(std::span(frame).subspan(14, length - 14), true, ip), DropReason::none);
    UdpDatagram d;
    EXPECT_EQ(parse_udp(ip.payload, ip.source, ip.destination, true, d), DropReason::none);
}

TEST(Udp, FrameThatDoesNotFitIsRefused) {
    Bytes frame(14 + 20 + 8 + 4);
    EXPECT_EQ(emit_udp_frame(frame, ends, hello_header, hello(), {}), 0u);
}

}  // namespace
}  // namespace bm::dpdk
