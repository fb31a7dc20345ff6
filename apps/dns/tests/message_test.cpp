// The DNS codec against hand-built packets, well-formed and hostile.
#include "apps/dns/message.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace bm::apps::dns;

namespace {

std::string u16(unsigned v) { return {char(v >> 8), char(v & 0xff)}; }

std::string name(std::string_view dotted) {
    std::string out;
    std::size_t start = 0;
    while (start < dotted.size()) {
        std::size_t dot = dotted.find('.', start);
        if (dot == std::string_view::npos) dot = dotted.size();
        out += char(dot - start);
        out += dotted.substr(start, dot - start);
        start = dot + 1;
    }
    return out + '\0';
}

// Header + question for (qname, qtype), then `answers` raw.
std::string response(unsigned id, unsigned flags, unsigned ancount, const std::string& qname,
                     RecordType qtype, const std::string& answers) {
    return u16(id) + u16(flags) + u16(1) + u16(ancount) + u16(0) + u16(0) + name(qname) +
           u16(unsigned(qtype)) + u16(1) + answers;
}

// An answer record whose owner is a pointer to the question name (offset 12).
std::string record(RecordType type, const std::string& rdata) {
    return "\xc0\x0c" + u16(unsigned(type)) + u16(1) + u16(0) + u16(300) + u16(rdata.size()) + rdata;
}

constexpr unsigned ok_flags = 0x8180;  // QR, RD, RA, NOERROR

}  // namespace

TEST(Dns, Rfc1035_4_1_BuildsAStandardRecursiveQuery) {
    auto q = build_query(0x1234, "Example.COM.", RecordType::mx);
    ASSERT_TRUE(q);
    EXPECT_EQ(*q, u16(0x1234) + u16(0x0100) + u16(1) + u16(0) + u16(0) + u16(0) +
                      name("Example.COM") + u16(15) + u16(1));
}

TEST(Dns, RefusesNamesThatCannotBeDomainNames) {
    EXPECT_FALSE(build_query(1, "", RecordType::a));
    EXPECT_FALSE(build_query(1, "a..b", RecordType::a));
    EXPECT_FALSE(build_query(1, std::string(64, 'a') + ".com", RecordType::a));
    EXPECT_FALSE(build_query(1, std::string(300, 'a'), RecordType::a));
    EXPECT_TRUE(build_query(1, std::string(63, 'a') + ".com", RecordType::a));
}

TEST(Dns, Rfc1035_3_3_9_ParsesMxWithCompressedExchange) {
    // Exchange "mx1" + pointer to "example.com" in the question.
    std::string mx1 = u16(20) + std::string("\x03mx1\xc0\x0c", 6);
    std::string mx2 = u16(10) + name("mx2.other.net");
    std::string p = response(7, ok_flags, 2, "example.com", RecordType::mx,
                             record(RecordType::mx, mx1) + record(RecordType::mx, mx2));
    Response r = parse_response(p, 7, "example.com", RecordType::mx);
    ASSERT_EQ(r.status, Status::ok) << r.reason;
    ASSERT_EQ(r.mx.size(), 2u);
    EXPECT_EQ(r.mx[0].preference, 20);
    EXPECT_EQ(r.mx[0].exchange, "mx1.example.com");
    EXPECT_EQ(r.mx[1].exchange, "mx2.other.net");
}

TEST(Dns, Rfc1035_3_4_1_ParsesARecordsSkippingCname) {
    std::string cname = record(RecordType::cname, name("real.example.com"));
    std::string a = "\xc0\x0c" + u16(1) + u16(1) + u16(0) + u16(60) + u16(4) + std::string("\x7f\x00\x00\x05", 4);
    std::string p = response(9, ok_flags, 2, "www.example.com", RecordType::a, cname + a);
    Response r = parse_response(p, 9, "www.example.com", RecordType::a);
    ASSERT_EQ(r.status, Status::ok) << r.reason;
    ASSERT_EQ(r.addresses.size(), 1u);
    EXPECT_EQ(r.addresses[0], 0x7f000005u);
}

TEST(Dns, Rfc2308_DistinguishesNxdomainServfailAndNodata) {
    EXPECT_EQ(parse_response(response(1, 0x8183, 0, "no.example", RecordType::mx, ""), 1,
                             "no.example", RecordType::mx).status,
              Status::nxdomain);
    EXPECT_EQ(parse_response(response(1, 0x8182, 0, "no.example", RecordType::mx, ""), 1,
                             "no.example", RecordType::mx).status,
              Status::server_failure);
    EXPECT_EQ(parse_response(response(1, 0x8185, 0, "no.example", RecordType::mx, ""), 1,
                             "no.example", RecordType::mx).status,
              Status::server_failure);  // REFUSED
    EXPECT_EQ(parse_response(response(1, ok_flags, 0, "no.example", RecordType::mx, ""), 1,
                             "no.example", RecordType::mx).status,
              Status::no_records);
}

TEST(Dns, Rfc7505_NullMxParsesAsEmptyExchange) {
    std::string p = response(3, ok_flags, 1, "nomail.example", RecordType::mx,
                             record(RecordType::mx, u16(0) + std::string(1, '\0')));
    Response r = parse_response(p, 3, "nomail.example", RecordType::mx);
    ASSERT_EQ(r.status, Status::ok);
    ASSERT_EQ(r.mx.size(), 1u);
    EXPECT_EQ(r.mx[0].exchange, "");
}

TEST(Dns, AnswersToOtherQueriesAreNotOurs) {
    std::string p = response(5, ok_flags, 0, "example.com", RecordType::mx, "");
    EXPECT_EQ(parse_response(p, 6, "example.com", RecordType::mx).status, Status::mismatch);
    EXPECT_EQ(parse_response(p, 5, "other.com", RecordType::mx).status, Status::mismatch);
    EXPECT_EQ(parse_response(p, 5, "example.com", RecordType::a).status, Status::mismatch);
    std::string query = response(5, 0x0100, 0, "example.com", RecordType::mx, "");  // QR clear
    EXPECT_EQ(parse_response(query, 5, "example.com", RecordType::mx).status, Status::mismatch);
    EXPECT_EQ(parse_response(std::string("\x00\x05", 2), 5, "example.com", RecordType::mx).status, Status::mismatch);
}

TEST(Dns, TruncatedAnswerIsReported) {
    std::string p = response(5, ok_flags | 0x0200, 0, "example.com", RecordType::mx, "");
    EXPECT_EQ(parse_response(p, 5, "example.com", RecordType::mx).status, Status::truncated);
}

TEST(Dns, NeverTrustsALengthField) {
    std::string a = "\xc0\x0c" + u16(1) + u16(1) + u16(0) + u16(60) + u16(400) + std::string("\x7f\x00\x00\x05", 4);
    EXPECT_EQ(parse_response(response(1, ok_flags, 1, "x.example", RecordType::a, a), 1, "x.example",
                             RecordType::a).status,
              Status::malformed);
    // RDLENGTH 5 for an A record.
    std::string a5 = "\xc0\x0c" + u16(1) + u16(1) + u16(0) + u16(60) + u16(5) + std::string("\x7f\x00\x00\x05\x00", 5);
    EXPECT_EQ(parse_response(response(1, ok_flags, 1, "x.example", RecordType::a, a5), 1,
                             "x.example", RecordType::a).status,
              Status::malformed);
    // ANCOUNT says 3, one record present.
    std::string one = "\xc0\x0c" + u16(1) + u16(1) + u16(0) + u16(60) + u16(4) + std::string("\x7f\x00\x00\x05", 4);
    EXPECT_EQ(parse_response(response(1, ok_flags, 3, "x.example", RecordType::a, one), 1,
                             "x.example", RecordType::a).status,
              Status::malformed);
    // Every truncation of a good packet is refused, never read past.
    std::string good = response(1, ok_flags, 1, "x.example", RecordType::a, one);
    for (std::size_t n = 0; n < good.size(); ++n) {
        Status s = parse_response(good.substr(0, n), 1, "x.example", RecordType::a).status;
        EXPECT_NE(s, Status::ok) << n;
    }
}

TEST(Dns, Rfc1035_4_1_4_CompressionLoopsAndForwardPointersAreRefused) {
    // The exchange points at itself.
    std::string header = response(2, ok_flags, 1, "loop.example", RecordType::mx, "");
    std::size_t at = header.size() + 12 + 2;  // owner(2) type class ttl rdlen = 12, then pref
    std::string self = u16(10) + "\xc0" + char(at);
    std::string p = header + record(RecordType::mx, self);
    EXPECT_EQ(parse_response(p, 2, "loop.example", RecordType::mx).status, Status::malformed);
    // A pointer forward, past the packet.
    std::string fwd = u16(10) + "\xc0\xff";
    EXPECT_EQ(parse_response(header + record(RecordType::mx, fwd), 2, "loop.example",
                             RecordType::mx).status,
              Status::malformed);
}

// RFC 5321 §2.3.5 / RFC 1035 §2.3.1: an exchange must be a host name. A
// label may carry any octet on the wire: a line feed (which would forge a
// log line), or a dot inside a label (which dotted text would misread).
TEST(Dns, Rfc5321_2_3_5_MxExchangesThatAreNoHostNamesAreNotUsed) {
    std::string evil = u16(5) + std::string("\x0c" "mx\nauth-fail", 13) + name("com");
    std::string dotted = u16(7) + std::string("\x04" "a.bc", 5) + name("com");
    std::string good = u16(10) + name("mx-2.example.com");
    std::string p = response(3, ok_flags, 3, "example.com", RecordType::mx,
                             record(RecordType::mx, evil) + record(RecordType::mx, dotted) +
                                 record(RecordType::mx, good));
    Response r = parse_response(p, 3, "example.com", RecordType::mx);
    ASSERT_EQ(r.status, Status::ok) << r.reason;
    ASSERT_EQ(r.mx.size(), 1u);
    EXPECT_EQ(r.mx[0].exchange, "mx-2.example.com");
}

TEST(Dns, Rfc5321_5_1_OnlyUnusableMxRecordsIsABadAnswerNotARecordlessDomain) {
    std::string evil = u16(5) + std::string("\x03" "m\rx", 4) + name("com");
    std::string p = response(4, ok_flags, 1, "example.com", RecordType::mx, record(RecordType::mx, evil));
    Response r = parse_response(p, 4, "example.com", RecordType::mx);
    EXPECT_EQ(r.status, Status::malformed);  // not no_records: no fall-back to the A record
    EXPECT_TRUE(r.mx.empty());
}
