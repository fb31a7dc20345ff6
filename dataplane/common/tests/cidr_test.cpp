// --relay-from blocks and the dotted quads of --dns, --ip, --gateway and
// --relayhost (RFC 4632 prefixes; inet_pton's strict dotted-decimal form).
#include "dataplane/common/cidr.hpp"

#include <gtest/gtest.h>

using namespace bm;

namespace {

std::uint32_t ip(const char* text) { return *parse_ipv4(text); }

}  // namespace

TEST(Ipv4, ParsesDottedQuadsInHostByteOrder) {
    EXPECT_EQ(parse_ipv4("10.99.0.1"), 0x0a630001u);
    EXPECT_EQ(parse_ipv4("0.0.0.0"), 0u);
    EXPECT_EQ(parse_ipv4("255.255.255.255"), 0xffffffffu);
}

TEST(Ipv4, RejectsEverythingButFourDecimalOctets) {
    for (const char* bad : {"", "10.99.0", "10.99.0.1.5", "10.99.0.256", "10.99.0.-1", "ten.0.0.1",
                            "10.99.0.1 ", " 10.99.0.1", "10.99.0.1/24", "0x0a.0.0.1", "::1", "10..0.1"})
        EXPECT_FALSE(parse_ipv4(bad)) << '"' << bad << '"';
}

TEST(Ipv4, FormatsWhatItParses) {
    for (const char* text : {"10.99.0.1", "127.0.0.1", "0.0.0.0", "255.255.255.255", "192.0.2.33", "100.109.9.190"})
        EXPECT_EQ(format_ipv4(ip(text)), text);
}

TEST(Ipv4, TextWithAPortIsTheLogsPeerName) {
    EXPECT_EQ(Ipv4Text(ip("10.99.0.7"), 40000).view(), "10.99.0.7:40000");
    EXPECT_EQ(Ipv4Text(ip("255.255.255.255"), 65535).view(), "255.255.255.255:65535");
    EXPECT_EQ(Ipv4Text(ip("0.0.0.0"), 0).view(), "0.0.0.0:0");
}

TEST(Cidr, ABareAddressIsASlash32) {
    auto c = Cidr::parse("192.0.2.7");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->prefix, 32);
    EXPECT_TRUE(c->contains(ip("192.0.2.7")));
    EXPECT_FALSE(c->contains(ip("192.0.2.8")));
}

TEST(Cidr, Rfc4632_HostBitsAreClearedAndMembershipFollowsThePrefix) {
    auto c = Cidr::parse("10.99.7.200/16");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->network, ip("10.99.0.0"));
    EXPECT_EQ(c->prefix, 16);
    EXPECT_TRUE(c->contains(ip("10.99.0.0")));
    EXPECT_TRUE(c->contains(ip("10.99.255.255")));
    EXPECT_FALSE(c->contains(ip("10.98.255.255")));
    EXPECT_FALSE(c->contains(ip("10.100.0.0")));
}

TEST(Cidr, SlashZeroHoldsEveryAddressAndSlash32One) {
    auto all = Cidr::parse("0.0.0.0/0");
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->contains(ip("0.0.0.0")));
    EXPECT_TRUE(all->contains(ip("255.255.255.255")));
    auto any_host_bits = Cidr::parse("203.0.113.9/0");  // no shift by 32 (undefined in C++)
    ASSERT_TRUE(any_host_bits);
    EXPECT_EQ(any_host_bits->network, 0u);
    EXPECT_TRUE(any_host_bits->contains(ip("1.2.3.4")));
    auto one = Cidr::parse("127.0.0.1/32");
    ASSERT_TRUE(one);
    EXPECT_TRUE(one->contains(ip("127.0.0.1")));
    EXPECT_FALSE(one->contains(ip("127.0.0.2")));
}

TEST(Cidr, OddPrefixesSplitInsideAnOctet) {
    auto c = Cidr::parse("192.0.2.64/27");
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->contains(ip("192.0.2.64")));
    EXPECT_TRUE(c->contains(ip("192.0.2.95")));
    EXPECT_FALSE(c->contains(ip("192.0.2.63")));
    EXPECT_FALSE(c->contains(ip("192.0.2.96")));
}

TEST(Cidr, RejectsMalformedBlocks) {
    for (const char* bad : {"", "/8", "127.0.0.0/", "127.0.0.0/33", "127.0.0.0/100", "127.0.0.0/-1",
                            "127.0.0.0/8/8", "127.0.0.0/ 8", "127.0.0.0/8 ", "127.0.0.0/x",
                            "127.0.0/8", "localhost/8", "127.0.0.0/+8", "::1/128"})
        EXPECT_FALSE(Cidr::parse(bad)) << '"' << bad << '"';
}
