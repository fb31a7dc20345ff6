// DNS over the stack's UDP: the query leaves as a datagram from the
// query's own port; the answer comes back through the UDP port table.
#include "dataplane/dpdk/dns_link.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/dns/tests/dns_wire.hpp"

namespace bm::dpdk {
namespace {

using apps::dns::RecordType;
using apps::dns::Response;

constexpr std::uint32_t server_ip = 0x0a630102;  // 10.99.1.2

struct FakeSender final : UdpSender {
    struct Sent {
        std::uint16_t local_port;
        std::uint32_t destination;
        std::uint16_t destination_port;
        std::string payload;
    };
    std::vector<Sent> sent;
    bool send_udp(std::uint16_t local_port, std::uint32_t destination, std::uint16_t destination_port,
                  std::span<const std::uint8_t> payload) override {
        sent.push_back({local_port, destination, destination_port, std::string(payload.begin(), payload.end())});
        return true;
    }
};

UdpDatagram datagram(std::uint16_t from_port, std::uint16_t to_port, const std::string& payload) {
    UdpDatagram d;
    d.source_port = from_port;
    d.destination_port = to_port;
    d.payload = {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
    return d;
}

TEST(DnsLink, QueryLeavesFromItsOwnPortAndTheAnswerComesBackThroughThePortTable) {
    FakeSender udp;
    std::vector<Response> answers;
    DnsLink link(server_ip, udp, [&](std::uint64_t, const Response& r) { answers.push_back(r); }, "-");
    UdpPorts ports;
    ports.bind(link);

    link.client().query(1, "example.test", RecordType::a, 0);
    ASSERT_EQ(udp.sent.size(), 1u);
    const auto& query = udp.sent[0];
    EXPECT_EQ(query.destination, server_ip);
    EXPECT_EQ(query.destination_port, 53);
    EXPECT_TRUE(link.listens_on(query.local_port));

    std::string reply = dns_wire::answer(query.payload, 1, dns_wire::a_record(0x0a630102));
    EXPECT_FALSE(ports.deliver(server_ip, datagram(53, std::uint16_t(query.local_port + 1), reply)));
    EXPECT_TRUE(ports.deliver(server_ip, datagram(53, query.local_port, reply)));
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].addresses, std::vector<std::uint32_t>{0x0a630102});
    // The port closed with its query: a duplicate answer has no listener.
    EXPECT_FALSE(ports.deliver(server_ip, datagram(53, query.local_port, reply)));
    EXPECT_EQ(answers.size(), 1u);
}

}  // namespace
}  // namespace bm::dpdk
