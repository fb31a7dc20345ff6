// RFC 5321 §5.1 routing decisions and --relayhost parsing.
#include "apps/relay/route.hpp"

#include <gtest/gtest.h>

using namespace bm;

TEST(RelayRoute, ParsesRelayhostForms) {
    auto a = parse_relayhost("127.0.0.1:2525");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->ip, 0x7f000001u);
    EXPECT_EQ(a->port, 2525);
    auto b = parse_relayhost("smarthost.example");
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->ip);
    EXPECT_EQ(b->port, 25);
    auto c = parse_relayhost("[mail.example]:587");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->host, "mail.example");
    EXPECT_EQ(c->port, 587);
    for (const char* bad : {"", ":25", "host:", "host:0", "host:70000", "host:x", "[host", "a b"})
        EXPECT_FALSE(parse_relayhost(bad)) << bad;
}

TEST(RelayRoute, Rfc5321_5_1_ExchangesByPreferenceTiesInOrder) {
    std::vector<apps::dns::MxRecord> mx = {{20, "b.example"}, {10, "a.example"}, {20, "c.example"},
                                           {10, "a.example"}};
    EXPECT_EQ(exchanges_in_order(mx), (std::vector<std::string>{"a.example", "b.example", "c.example"}));
}

TEST(RelayRoute, Rfc7505_NullMx) {
    EXPECT_TRUE(is_null_mx({{0, ""}}));
    EXPECT_FALSE(is_null_mx({{0, ""}, {10, "a.example"}}));
    EXPECT_FALSE(is_null_mx({{10, "a.example"}}));
}

TEST(RelayRoute, Rfc5321_4_1_3_AddressLiterals) {
    EXPECT_EQ(address_literal("[10.0.0.5]"), 0x0a000005u);
    EXPECT_FALSE(address_literal("10.0.0.5"));
    EXPECT_FALSE(address_literal("[IPv6:::1]"));
}
