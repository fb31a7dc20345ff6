#include "dataplane/dpdk/udp.hpp"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace bm::dpdk
