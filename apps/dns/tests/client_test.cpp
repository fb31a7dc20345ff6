// The shared DNS client against a fake transport: what leaves, and which
// answers count (RFC 1035 §4.2.1, RFC 1123 §6.1.3.3, RFC 5452 §9).
#include "apps/dns/client.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "apps/dns/tests/dns_wire.hpp"

namespace bm {
namespace {

using apps::dns::RecordType;
using apps::dns::Response;
using apps::dns::Status;
using namespace dns_wire;

struct FakeTransport final : DnsTransport {
    struct Sent {
        std::uint32_t server;
        std::uint16_t port;
        std::string packet;
    };
    std::vector<Sent> sent;
    std::set<std::uint16_t> open;
    std::vector<std::uint16_t> closed;
    bool send_ok = true;
    bool no_ports = false;
    std::uint16_t own_port = 0;  // != 0: the transport picks its ports (a kernel socket)

    std::uint16_t open_port(std::uint16_t suggestion) override {
        if (no_ports) return 0;
        std::uint16_t port = own_port != 0 ? own_port++ : suggestion;
        open.insert(port);
        return port;
    }
    void close_port(std::uint16_t port) override {
        open.erase(port);
        closed.push_back(port);
    }
    bool send(std::uint32_t server, std::uint16_t port, std::string_view packet) override {
        sent.push_back({server, port, std::string(packet)});
        return send_ok;
    }
};

constexpr std::uint32_t server_ip = 0x0a630102;  // 10.99.1.2
constexpr std::uint64_t timeout = 1'000'000;

class DnsClientTest : public ::testing::Test {
protected:
    FakeTransport transport;
    std::vector<std::pair<std::uint64_t, Response>> answers;
    DnsClient client{server_ip, transport,
                     [this](std::uint64_t owner, const Response& r) { answers.push_back({owner, r}); },
                     {timeout, 3, 8}};

    // An answer to the n-th datagram sent, from the server's port 53 unless told.
    void reply(const std::string& bytes, std::size_t n = 0, std::uint32_t from = server_ip,
               std::uint16_t from_port = 53) {
        client.on_datagram(from, from_port, transport.sent.at(n).port, bytes);
    }
    const std::string& query_sent(std::size_t n = 0) { return transport.sent.at(n).packet; }
};

TEST_F(DnsClientTest, Rfc1035_4_2_1_QueryGoesToPort53OfTheServerFromAPortOfItsOwn) {
    client.query(7, "example.test", RecordType::mx, 0);
    client.query(8, "example.test", RecordType::a, 0);
    ASSERT_EQ(transport.sent.size(), 2u);
    const auto& first = transport.sent[0];
    EXPECT_EQ(first.server, server_ip);
    EXPECT_GE(first.port, 49152);  // RFC 6335 §6 dynamic ports
    EXPECT_NE(first.port, transport.sent[1].port);
    EXPECT_TRUE(client.listens_on(first.port));
    EXPECT_EQ(first.packet, *apps::dns::build_query(id_of(first.packet), "example.test", RecordType::mx));
    EXPECT_TRUE(answers.empty());  // never from inside query()
    EXPECT_EQ(client.in_flight(), 2u);
}

TEST_F(DnsClientTest, AnswerReachesItsOwnerAndClosesThePort) {
    client.query(7, "example.test", RecordType::mx, 0);
    std::uint16_t port = transport.sent[0].port;
    reply(answer(query_sent(), 1, mx_record(10, "mx")));
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].first, 7u);
    ASSERT_EQ(answers[0].second.status, Status::ok);
    ASSERT_EQ(answers[0].second.mx.size(), 1u);
    EXPECT_EQ(answers[0].second.mx[0].exchange, "mx.example.test");
    EXPECT_FALSE(client.listens_on(port));
    EXPECT_EQ(transport.closed, std::vector<std::uint16_t>{port});
    EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(DnsClientTest, Rfc1123_6_1_3_3_RetransmitsTheSameQueryThenGivesUp) {
    client.query(7, "example.test", RecordType::a, 0);
    client.tick(timeout - 1);
    EXPECT_EQ(transport.sent.size(), 1u);
    client.tick(timeout);
    client.tick(2 * timeout);
    ASSERT_EQ(transport.sent.size(), 3u);
    for (const auto& s : transport.sent) {
        EXPECT_EQ(s.packet, query_sent());  // same id, same question
        EXPECT_EQ(s.port, transport.sent[0].port);
    }
    EXPECT_TRUE(answers.empty());
    client.tick(3 * timeout);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].second.status, Status::server_failure);
    EXPECT_NE(answers[0].second.reason.find("no answer from the DNS server 10.99.1.2"), std::string::npos);
    EXPECT_EQ(transport.sent.size(), 3u);
    EXPECT_TRUE(transport.open.empty());
}

TEST_F(DnsClientTest, AnswerToTheFirstCopyCountsAfterARetransmission) {
    client.query(7, "example.test", RecordType::a, 0);
    client.tick(timeout);
    reply(answer(query_sent(0), 1, a_record(0x0a630102)));
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].second.addresses, std::vector<std::uint32_t>{0x0a630102});
}

TEST_F(DnsClientTest, Rfc5452_9_1_AnswerWithAnotherIdIsIgnored) {
    client.query(7, "example.test", RecordType::a, 0);
    reply(answer(query_sent(), 1, a_record(1), ok_flags, +1));
    EXPECT_TRUE(answers.empty());
    EXPECT_TRUE(client.listens_on(transport.sent[0].port));  // still waiting
    reply(answer(query_sent(), 1, a_record(2)));
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].second.addresses, std::vector<std::uint32_t>{2});
}

TEST_F(DnsClientTest, Rfc5452_9_1_AnswerFromAnotherAddressOrPortIsIgnored) {
    client.query(7, "example.test", RecordType::a, 0);
    std::string good = answer(query_sent(), 1, a_record(2));
    reply(good, 0, server_ip + 1);
    reply(good, 0, server_ip, 5353);
    client.on_datagram(server_ip, 53, std::uint16_t(transport.sent[0].port ^ 1), good);  // to another port
    EXPECT_TRUE(answers.empty());
    reply(good);
    EXPECT_EQ(answers.size(), 1u);
}

TEST_F(DnsClientTest, AnswerToAnotherQuestionIsIgnored) {
    client.query(7, "example.test", RecordType::mx, 0);
    std::string other = *apps::dns::build_query(id_of(query_sent()), "other.test", RecordType::mx);
    reply(answer(other, 1, mx_record(10, "mx")));
    EXPECT_TRUE(answers.empty());
    reply(std::string("\x00", 1));  // too short to be anything
    EXPECT_TRUE(answers.empty());
}

TEST_F(DnsClientTest, Rfc1035_4_2_1_TruncatedAnswerIsHandedOnNotRetried) {
    client.query(7, "example.test", RecordType::mx, 0);
    reply(answer(query_sent(), 0, "", ok_flags | tc_flag));
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].second.status, Status::truncated);
    client.tick(10 * timeout);
    EXPECT_EQ(transport.sent.size(), 1u);
    EXPECT_EQ(answers.size(), 1u);
}

TEST_F(DnsClientTest, Rfc2308_NxdomainIsAnAnswer) {
    client.query(7, "nowhere.test", RecordType::mx, 0);
    reply(answer(query_sent(), 0, "", 0x8183));
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].second.status, Status::nxdomain);
}

TEST_F(DnsClientTest, BadNameFailsAtTheNextTickNotInsideQuery) {
    client.query(7, "bad..name", RecordType::mx, 0);
    EXPECT_TRUE(answers.empty());
    EXPECT_TRUE(transport.sent.empty());
    client.tick(0);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].second.status, Status::server_failure);
    EXPECT_NE(answers[0].second.reason.find("not a domain name"), std::string::npos);
}

TEST_F(DnsClientTest, SendFailureIsRetriedSoonerThenReported) {
    transport.send_ok = false;
    client.query(7, "example.test", RecordType::a, 0);
    client.tick(timeout / 4);
    client.tick(timeout / 2);
    EXPECT_EQ(transport.sent.size(), 3u);
    client.tick(3 * timeout / 4);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_NE(answers[0].second.reason.find("cannot send to the DNS server"), std::string::npos);
}

TEST_F(DnsClientTest, TooManyQueriesInFlightAreRefused) {
    for (std::uint64_t owner = 0; owner < 9; ++owner) client.query(owner, "example.test", RecordType::a, 0);
    EXPECT_EQ(transport.sent.size(), 8u);
    client.tick(0);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].first, 8u);
    EXPECT_NE(answers[0].second.reason.find("too many"), std::string::npos);
}

TEST_F(DnsClientTest, APortTheTransportChoseIsTheQuerysPort) {
    transport.own_port = 40000;
    client.query(7, "example.test", RecordType::a, 0);
    EXPECT_EQ(transport.sent[0].port, 40000);
    EXPECT_TRUE(client.listens_on(40000));
    reply(answer(query_sent(), 1, a_record(2)));
    EXPECT_EQ(answers.size(), 1u);
}

TEST_F(DnsClientTest, NoPortFailsTheLookup) {
    transport.no_ports = true;
    client.query(7, "example.test", RecordType::a, 0);
    client.tick(0);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].second.status, Status::server_failure);
    EXPECT_TRUE(transport.sent.empty());
}

TEST_F(DnsClientTest, AnAnswerMayStartTheNextQuery) {
    DnsClient chained{server_ip, transport, [&](std::uint64_t owner, const Response&) {
                          if (owner == 1) chained.query(2, "mx.example.test", RecordType::a, 0);
                      }};
    chained.query(1, "example.test", RecordType::mx, 0);
    chained.on_datagram(server_ip, 53, transport.sent[0].port, answer(query_sent(), 1, mx_record(10, "mx")));
    ASSERT_EQ(transport.sent.size(), 2u);
    EXPECT_EQ(chained.in_flight(), 1u);
    EXPECT_TRUE(chained.listens_on(transport.sent[1].port));
}

TEST_F(DnsClientTest, CancelAllClosesEveryPortAndAnswersNothing) {
    client.query(7, "example.test", RecordType::a, 0);
    client.query(8, "bad..name", RecordType::a, 0);
    client.cancel_all();
    client.tick(10 * timeout);
    EXPECT_TRUE(answers.empty());
    EXPECT_TRUE(transport.open.empty());
    EXPECT_EQ(client.in_flight(), 0u);
}

TEST(DnsClient, NoUsableServerFailsEveryLookupWithTheReason) {
    FakeTransport transport;
    std::vector<Response> answers;
    DnsClient client{0, transport, [&](std::uint64_t, const Response& r) { answers.push_back(r); }, {},
                     "no usable DNS server: --dns 127.0.0.1 is loopback"};
    client.query(7, "example.test", RecordType::mx, 0);
    client.tick(0);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].status, Status::server_failure);
    EXPECT_EQ(answers[0].reason, "no usable DNS server: --dns 127.0.0.1 is loopback");
    EXPECT_TRUE(transport.sent.empty());
}

}  // namespace
}  // namespace bm
