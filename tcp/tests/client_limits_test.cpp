// SPEC --max-conn-per-ip / --max-conn-rate-per-ip on the engine, and what a
// refused connection leaves behind: its line and FIN, then a TIME-WAIT slot
// the table reclaims first (issue 11: refused clients held TCBs until the
// table was full and completed SYN-cookie handshakes got a RST).
#include "tcp/tests/harness.hpp"

namespace bm::tcp::testing {
namespace {

constexpr std::uint32_t other_ip = 0x0a630009;  // 10.99.0.9

EngineConfig limited_config(std::uint32_t per_ip, std::uint32_t capacity = 64) {
    EngineConfig config = test_config();
    apps::HostConfig host = config.services->config();
    host.client_limits.max_connections = per_ip;
    config.services = std::make_shared<const apps::ServiceHost>(std::move(host));
    config.tcb_capacity = capacity;
    return config;
}

class ClientLimitsTest : public EngineTest {
protected:
    // SYN, SYN-ACK, ACK from `ip`; what the server sent after the ACK.
    std::string handshake(Client& c, std::uint32_t ip, std::uint16_t port, std::uint16_t client_port) {
        c.tuple = {server_ip, port, ip, client_port};
        c.seq = client_isn;
        SegmentIn syn = segment(c, SYN);
        syn.options.mss = 1460;
        auto synack = arrive(syn);
        EXPECT_EQ(synack.size(), 1u);
        if (synack.empty()) return "";
        c.seq = client_isn + 1;
        c.ack = synack[0].segment.seq + 1;
        auto reply = arrive(segment(c, ACK));
        std::string text = receive(c, reply);
        for (const Sent& s : reply)
            if (s.segment.flags & RST) text += "<RST>";
        return text;
    }
};

TEST_F(ClientLimitsTest, SpecMaxConnPerIp_TheNextClientFromThatAddressIsRefusedAnotherIsNot) {
    start(limited_config(2));
    Client a1, a2, a3, b1;
    EXPECT_EQ(handshake(a1, client_ip, pop3_port, 40001).substr(0, 3), "+OK");
    EXPECT_EQ(handshake(a2, client_ip, pop3_port, 40002).substr(0, 3), "+OK");
    EXPECT_EQ(handshake(a3, client_ip, pop3_port, 40003), "-ERR [SYS/TEMP] Too many connections\r\n");
    EXPECT_EQ(handshake(b1, other_ip, pop3_port, 40004).substr(0, 3), "+OK");
    EXPECT_EQ(engine_->counters().refused_client_limit, 1u);
    EXPECT_EQ(log_.events.size() > 0, true);
    // SMTP counts on its own: the address has no SMTP session yet.
    Client s1;
    EXPECT_EQ(handshake(s1, client_ip, smtp_port, 40005).substr(0, 3), "220");
    // One of A's sessions ends (QUIT): the next one from A is admitted.
    receive(a1, send(a1, "QUIT\r\n"));
    acknowledge(a1);
    send(a1, "", ACK | FIN);
    Client a4;
    EXPECT_EQ(handshake(a4, client_ip, pop3_port, 40006).substr(0, 3), "+OK");
}

TEST_F(ClientLimitsTest, ARefusedConnectionGoesStraightToTimeWait) {
    start(limited_config(1));
    Client a1, a2;
    handshake(a1, client_ip, pop3_port, 40001);
    std::size_t open_before = engine_->open_connections();
    EXPECT_EQ(handshake(a2, client_ip, pop3_port, 40002), "-ERR [SYS/TEMP] Too many connections\r\n");
    // Line and FIN sent; nothing kept that counts as open or waits on the peer.
    EXPECT_EQ(engine_->open_connections(), open_before);
    // The peer's ACK of our FIN and its own FIN are answered as in TIME-WAIT.
    EXPECT_TRUE(acknowledge(a2).empty());
    auto out = send(a2, "", ACK | FIN);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK);
    EXPECT_EQ(out[0].segment.ack, a2.seq);
}

// Refused clients that never ACK our FIN nor close once held FIN-WAIT TCBs
// until the table filled; now a new client from elsewhere still gets in.
TEST_F(ClientLimitsTest, RefusalsNeverCrowdOutANewClient) {
    start(limited_config(1, 8));
    Client first;
    handshake(first, client_ip, pop3_port, 40000);
    for (std::uint16_t i = 1; i <= 30; ++i) {
        Client refused;
        ASSERT_EQ(handshake(refused, client_ip, pop3_port, std::uint16_t(40000 + i)),
                  "-ERR [SYS/TEMP] Too many connections\r\n")
            << "refusal " << i;
    }
    Client newcomer;
    EXPECT_EQ(handshake(newcomer, other_ip, smtp_port, 50000).substr(0, 3), "220");
    EXPECT_EQ(engine_->counters().dropped_no_room, 0u);
}

// A table full of live sessions: a completed SYN-cookie handshake gets the
// busy line and FIN, not a reset.
TEST_F(ClientLimitsTest, ATableFullOfSessionsAnswersACompletedCookieHandshakeWithTheBusyLine) {
    start(limited_config(0, 4));
    for (std::uint16_t i = 0; i < 4; ++i) {
        Client c;
        ASSERT_EQ(handshake(c, client_ip, smtp_port, std::uint16_t(41000 + i)).substr(0, 3), "220");
    }
    Client late;
    late.tuple = {server_ip, smtp_port, other_ip, 42000};
    late.seq = client_isn;
    auto cookie = arrive(segment(late, SYN));
    ASSERT_EQ(cookie.size(), 1u);
    EXPECT_EQ(engine_->counters().syn_cookies_sent, 1u);
    late.seq = client_isn + 1;
    late.ack = cookie[0].segment.seq + 1;
    auto out = arrive(segment(late, ACK));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].segment.flags, ACK | PSH | FIN);
    EXPECT_EQ(out[0].segment.seq, late.ack);
    EXPECT_EQ(out[0].payload, "421 4.7.0 mx.test Error: too many connections\r\n");
    EXPECT_EQ(engine_->counters().dropped_no_room, 1u);
    EXPECT_EQ(engine_->open_connections(), 4u);
}

}  // namespace
}  // namespace bm::tcp::testing
