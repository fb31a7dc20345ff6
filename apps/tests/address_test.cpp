// MAIL FROM / RCPT TO argument parsing, case by case against RFC 5321 §4.1.2.
#include "apps/address.hpp"

#include <gtest/gtest.h>

#include <string>

using bm::apps::BodyType;
using bm::apps::parse_mail_from;
using bm::apps::parse_rcpt_to;
using bm::apps::PathError;

TEST(Address, MailFromSimplePath) {
    auto parsed = parse_mail_from("FROM:<alice@example.org>");
    ASSERT_TRUE(parsed.ok()) << parsed.reason;
    EXPECT_EQ(parsed.path.local_part, "alice");
    EXPECT_EQ(parsed.path.domain, "example.org");
    EXPECT_EQ(parsed.path.address(), "alice@example.org");
    EXPECT_FALSE(parsed.parameters.size);
}

TEST(Address, KeywordIsCaseInsensitive) {
    EXPECT_TRUE(parse_mail_from("from:<a@b.c>").ok());
    EXPECT_TRUE(parse_rcpt_to("tO:<a@b.c>").ok());
}

TEST(Address, SpaceAfterColonIsTolerated) {
    auto parsed = parse_mail_from("FROM: <a@b.c>");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.path.address(), "a@b.c");
}

TEST(Address, MissingKeywordIsSyntaxError) {
    EXPECT_EQ(parse_mail_from("<a@b.c>").error, PathError::keyword);
    EXPECT_EQ(parse_mail_from("FROM").error, PathError::keyword);
    EXPECT_EQ(parse_mail_from("FROM:").error, PathError::keyword);
    EXPECT_EQ(parse_rcpt_to("FROM:<a@b.c>").error, PathError::keyword);
    EXPECT_EQ(parse_rcpt_to("TO :<a@b.c>").error, PathError::keyword);
}

TEST(Address, DomainIsLowerCasedLocalPartKept) {
    auto parsed = parse_rcpt_to("TO:<John.Doe@Example.ORG>");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.path.local_part, "John.Doe");
    EXPECT_EQ(parsed.path.domain, "example.org");
}

TEST(Address, NullReversePathOnlyForMail) {
    auto parsed = parse_mail_from("FROM:<>");
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed.path.is_null());
    EXPECT_EQ(parsed.path.address(), "");
    EXPECT_EQ(parse_rcpt_to("TO:<>").error, PathError::address);
}

TEST(Address, NullReversePathWithParameters) {
    auto parsed = parse_mail_from("FROM:<> SIZE=100");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.parameters.size, 100u);
}

TEST(Address, SourceRouteIsStripped) {
    auto parsed = parse_rcpt_to("TO:<@relay1.example,@relay2.example:user@dest.example>");
    ASSERT_TRUE(parsed.ok()) << parsed.reason;
    EXPECT_EQ(parsed.path.address(), "user@dest.example");
}

TEST(Address, BadSourceRouteIsRejected) {
    EXPECT_EQ(parse_rcpt_to("TO:<@:user@d.example>").error, PathError::address);
    EXPECT_EQ(parse_rcpt_to("TO:<@a.example,b.example:user@d.example>").error,
              PathError::address);
    EXPECT_EQ(parse_rcpt_to("TO:<@a.example user@d.example>").error, PathError::address);
}

TEST(Address, QuotedLocalPart) {
    auto parsed = parse_rcpt_to(R"(TO:<"john doe"@example.org>)");
    ASSERT_TRUE(parsed.ok()) << parsed.reason;
    EXPECT_EQ(parsed.path.local_part, R"("john doe")");
    EXPECT_EQ(parsed.path.unquoted_local_part(), "john doe");
    EXPECT_EQ(parsed.path.address(), R"("john doe"@example.org)");
}

TEST(Address, QuotedLocalPartMayHideBracketAndAt) {
    auto parsed = parse_rcpt_to(R"(TO:<"a>b@c\"d"@example.org>)");
    ASSERT_TRUE(parsed.ok()) << parsed.reason;
    EXPECT_EQ(parsed.path.unquoted_local_part(), R"(a>b@c"d)");
    EXPECT_EQ(parsed.path.domain, "example.org");
}

TEST(Address, UnterminatedQuoteIsRejected) {
    EXPECT_EQ(parse_rcpt_to(R"(TO:<"abc@example.org>)").error, PathError::address);
}

TEST(Address, DomainLiteralIpv4) {
    auto parsed = parse_rcpt_to("TO:<bob@[10.99.0.1]>");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.path.domain, "[10.99.0.1]");
}

TEST(Address, DomainLiteralIpv6IsLowerCased) {
    auto parsed = parse_rcpt_to("TO:<bob@[IPv6:2001:DB8::1]>");
    ASSERT_TRUE(parsed.ok()) << parsed.reason;
    EXPECT_EQ(parsed.path.domain, "[ipv6:2001:db8::1]");
}

TEST(Address, BadDomainLiteralsAreRejected) {
    for (const char* arg : {"TO:<bob@[10.99.0.256]>", "TO:<bob@[10.99.0]>", "TO:<bob@[1.2.3.4.5]>",
                            "TO:<bob@[]>", "TO:<bob@[10.99.0.1>", "TO:<bob@[1234.1.1.1]>"})
        EXPECT_EQ(parse_rcpt_to(arg).error, PathError::address) << arg;
}

TEST(Address, BadDomainsAreRejected) {
    for (const char* arg : {"TO:<bob@>", "TO:<bob@-a.example>", "TO:<bob@a-.example>",
                            "TO:<bob@a..example>", "TO:<bob@a.example.>", "TO:<bob@a_b.example>",
                            "TO:<bob@.example>"})
        EXPECT_EQ(parse_rcpt_to(arg).error, PathError::address) << arg;
}

TEST(Address, BadLocalPartsAreRejected) {
    for (const char* arg : {"TO:<@example.org>", "TO:<.bob@example.org>", "TO:<bob.@example.org>",
                            "TO:<b..ob@example.org>", "TO:<b(o)b@example.org>",
                            "TO:<b ob@example.org>", "TO:<a@b@example.org>"})
        EXPECT_EQ(parse_rcpt_to(arg).error, PathError::address) << arg;
}

TEST(Address, BarePostmasterIsARecipient) {
    auto parsed = parse_rcpt_to("TO:<PostMaster>");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.path.local_part, "postmaster");
    EXPECT_EQ(parsed.path.domain, "");
    EXPECT_EQ(parsed.path.address(), "postmaster");
}

TEST(Address, BareLocalPartIsNotASender) {
    EXPECT_EQ(parse_mail_from("FROM:<postmaster>").error, PathError::address);
    EXPECT_EQ(parse_rcpt_to("TO:<alice>").error, PathError::address);
}

TEST(Address, UnbracketedPathIsToleratedAsPostfixDoes) {
    auto parsed = parse_mail_from("FROM:a@b.example SIZE=5");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.path.address(), "a@b.example");
    EXPECT_EQ(parsed.parameters.size, 5u);
}

TEST(Address, MissingClosingBracketIsRejected) {
    EXPECT_EQ(parse_mail_from("FROM:<a@b.example").error, PathError::address);
}

TEST(Address, TextGluedToClosingBracketIsRejected) {
    EXPECT_EQ(parse_mail_from("FROM:<a@b.example>SIZE=5").error, PathError::address);
}

TEST(Address, LocalPartOf64OctetsIsAcceptedAnd65Rejected) {
    std::string l64(64, 'a');
    EXPECT_TRUE(parse_rcpt_to("TO:<" + l64 + "@example.org>").ok());
    EXPECT_EQ(parse_rcpt_to("TO:<" + l64 + "a@example.org>").error, PathError::address);
}

TEST(Address, PathOver256OctetsIsRejected) {
    // 64 + 1 + 189 = 254 octets inside the brackets: exactly 256 with them.
    std::string label(63, 'd');
    std::string domain = label + "." + label + "." + std::string(189 - 2 * 64, 'e');
    ASSERT_EQ(domain.size(), 189u);
    std::string local(64, 'l');
    EXPECT_TRUE(parse_rcpt_to("TO:<" + local + "@" + domain + ">").ok());
    EXPECT_EQ(parse_rcpt_to("TO:<" + local + "@" + domain + "e>").error, PathError::address);
}

TEST(Address, HugeInputIsRejectedNotTrusted) {
    EXPECT_EQ(parse_rcpt_to("TO:<" + std::string(100000, 'a') + "@b.example>").error,
              PathError::address);
    EXPECT_EQ(parse_rcpt_to("TO:<a@" + std::string(100000, 'b') + ">").error,
              PathError::address);
}

TEST(Address, LabelOver63OctetsIsRejected) {
    EXPECT_EQ(parse_rcpt_to("TO:<a@" + std::string(64, 'b') + ".example>").error,
              PathError::address);
}

TEST(Address, SizeParameter) {
    auto parsed = parse_mail_from("FROM:<a@b.example> size=12345");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.parameters.size, 12345u);
}

TEST(Address, SizeParameterSaturatesInsteadOfOverflowing) {
    auto parsed = parse_mail_from("FROM:<a@b.example> SIZE=99999999999999999999");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.parameters.size, UINT64_MAX);
}

TEST(Address, BadSizeValuesAreParameterErrors) {
    for (const char* arg : {"FROM:<a@b.example> SIZE=", "FROM:<a@b.example> SIZE",
                            "FROM:<a@b.example> SIZE=12a", "FROM:<a@b.example> SIZE=-1",
                            "FROM:<a@b.example> SIZE=123456789012345678901",
                            "FROM:<a@b.example> SIZE=1 SIZE=2"})
        EXPECT_EQ(parse_mail_from(arg).error, PathError::bad_parameter) << arg;
}

TEST(Address, BodyParameter) {
    EXPECT_EQ(parse_mail_from("FROM:<a@b.example> BODY=8BITMIME").parameters.body,
              BodyType::eight_bit_mime);
    EXPECT_EQ(parse_mail_from("FROM:<a@b.example> body=7bit").parameters.body,
              BodyType::seven_bit);
    EXPECT_EQ(parse_mail_from("FROM:<a@b.example> BODY=BINARYMIME").error,
              PathError::bad_parameter);
}

TEST(Address, SeveralParametersAndExtraSpaces) {
    auto parsed = parse_mail_from("FROM:<a@b.example>  SIZE=10   BODY=8BITMIME ");
    ASSERT_TRUE(parsed.ok()) << parsed.reason;
    EXPECT_EQ(parsed.parameters.size, 10u);
    EXPECT_EQ(parsed.parameters.body, BodyType::eight_bit_mime);
}

TEST(Address, UnknownMailParameterIsUnknown) {
    auto parsed = parse_mail_from("FROM:<a@b.example> RET=HDRS");
    EXPECT_EQ(parsed.error, PathError::unknown_parameter);
    EXPECT_EQ(parsed.reason, "Unsupported option: RET");
}

TEST(Address, AnyRcptParameterIsUnknown) {
    EXPECT_EQ(parse_rcpt_to("TO:<a@b.example> NOTIFY=NEVER").error, PathError::unknown_parameter);
}

TEST(Address, MalformedParameterIsSyntaxError) {
    EXPECT_EQ(parse_mail_from("FROM:<a@b.example> -X=1").error, PathError::bad_parameter);
    EXPECT_EQ(parse_mail_from("FROM:<a@b.example> X=a=b").error, PathError::bad_parameter);
}

TEST(Address, ControlCharactersAreRejected) {
    EXPECT_EQ(parse_rcpt_to(std::string("TO:<a\rb@example.org>")).error, PathError::address);
    EXPECT_EQ(parse_rcpt_to(std::string("TO:<ab@exa\0mple.org>", 20)).error, PathError::address);
}
