#include "harness/mailgun/tcp_streams.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness/mailgun/replay_script.hpp"
#include "tcp/engine.hpp"

namespace bm::mailgun {
namespace {

constexpr std::uint32_t client_ip = 0x0a630001, server_ip = 0x0a630002;
constexpr std::uint16_t client_port = 40000, server_port = 2500;
constexpr std::uint32_t client_isn = 0xfffffff0;  // wraps inside the stream
constexpr std::uint32_t server_isn = 5000;

// Segments built here keep their payload alive for the assembler's add().
struct Capture {
    std::vector<std::string> payloads;
    StreamAssembler assembler;
    std::uint64_t time = 1'000'000;

    void segment(bool from_client, std::uint32_t offset, std::string data, std::uint32_t acked,
                 std::uint8_t flags = tcp::ACK | tcp::PSH) {
        payloads.push_back(std::move(data));
        CapturedSegment s;
        s.time_ns = time += 1000;
        s.source_ip = from_client ? client_ip : server_ip;
        s.destination_ip = from_client ? server_ip : client_ip;
        s.source_port = from_client ? client_port : server_port;
        s.destination_port = from_client ? server_port : client_port;
        s.seq = (from_client ? client_isn : server_isn) + 1 + offset;
        s.ack = (from_client ? server_isn : client_isn) + 1 + acked;
        s.flags = flags;
        s.payload = {reinterpret_cast<const std::uint8_t*>(payloads.back().data()), payloads.back().size()};
        assembler.add(s);
    }
    void handshake() {
        CapturedSegment syn;
        syn.time_ns = time;
        syn.source_ip = client_ip;
        syn.destination_ip = server_ip;
        syn.source_port = client_port;
        syn.destination_port = server_port;
        syn.seq = client_isn;
        syn.flags = tcp::SYN;
        assembler.add(syn);
        CapturedSegment syn_ack = syn;
        std::swap(syn_ack.source_ip, syn_ack.destination_ip);
        std::swap(syn_ack.source_port, syn_ack.destination_port);
        syn_ack.seq = server_isn;
        syn_ack.ack = client_isn + 1;
        syn_ack.flags = tcp::SYN | tcp::ACK;
        assembler.add(syn_ack);
    }
};

const std::string greeting = "220 mx ESMTP\r\n";
const std::string ehlo_reply = "250-mx\r\n250 PIPELINING\r\n";
const std::string ok = "250 ok\r\n";

TEST(StreamAssembler, RoleAndStreamsFromAnOrderlyDialogue) {
    Capture c;
    c.handshake();
    c.segment(false, 0, greeting, 0);
    c.segment(true, 0, "EHLO a\r\n", greeting.size());
    c.segment(false, greeting.size(), ehlo_reply, 8);
    auto conversations = c.assembler.finish();
    ASSERT_EQ(conversations.size(), 1u);
    const TcpConversation& t = conversations[0];
    EXPECT_EQ(t.client_ip, client_ip);
    EXPECT_EQ(t.server_port, server_port);
    EXPECT_TRUE(t.saw_syn);
    EXPECT_EQ(t.client_bytes, "EHLO a\r\n");
    EXPECT_EQ(t.server_bytes, greeting + ehlo_reply);
    EXPECT_FALSE(t.client_gap);
    ASSERT_EQ(t.client_runs.size(), 1u);
    EXPECT_EQ(t.client_runs[0], (ClientRun{0, greeting.size()}));
}

// RFC 9293 §3.10.7.4: data is placed by sequence number whatever the
// arrival order; a retransmission overlapping what is there adds only
// what is new, and the ACK of an octet is its first transmission's.
TEST(StreamAssembler, OutOfOrderAndRetransmittedSegmentsRebuildTheStreamOnce) {
    Capture c;
    c.handshake();
    c.segment(false, 0, greeting, 0);
    c.segment(true, 15, "RCPT TO:<b>\r\n", greeting.size());      // before its predecessor
    c.segment(true, 0, "MAIL FRO", greeting.size());
    c.segment(true, 0, "MAIL FROM:<a>\r\n", greeting.size());      // retransmission, longer
    c.segment(true, 15, "RCPT TO:<b>\r\n", greeting.size());       // plain duplicate
    c.segment(false, greeting.size(), ok + ok, 28);
    c.segment(true, 15, "RCPT TO:<b>\r\nDA", greeting.size() + 16);  // late copy, higher ACK
    c.segment(true, 28, "DATA\r\n", greeting.size() + 16);
    auto t = c.assembler.finish().at(0);
    EXPECT_EQ(t.client_bytes, "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n");
    EXPECT_FALSE(t.client_gap);
    // The late copy's higher ACK does not move the turn boundary before DATA.
    ASSERT_EQ(t.client_runs.size(), 2u);
    EXPECT_EQ(t.client_runs[0], (ClientRun{0, greeting.size()}));
    EXPECT_EQ(t.client_runs[1], (ClientRun{28, greeting.size() + 16}));
}

TEST(StreamAssembler, AHoleNeverFilledCutsTheStreamThere) {
    Capture c;
    c.handshake();
    c.segment(true, 0, "NOOP\r\n", 0);
    c.segment(true, 12, "QUIT\r\n", 0);  // octets 6..11 never captured
    auto t = c.assembler.finish().at(0);
    EXPECT_EQ(t.client_bytes, "NOOP\r\n");
    EXPECT_TRUE(t.client_gap);
}

TEST(StreamAssembler, WithoutTheHandshakeTheLowerPortIsTheServer) {
    Capture c;
    c.segment(false, 0, greeting, 0);
    c.segment(true, 0, "QUIT\r\n", greeting.size());
    auto t = c.assembler.finish().at(0);
    EXPECT_FALSE(t.saw_syn);
    EXPECT_EQ(t.server_port, server_port);
    EXPECT_EQ(t.client_bytes, "QUIT\r\n");
    EXPECT_EQ(t.server_bytes, greeting);
}

TEST(StreamAssembler, ANewSynOnAUsedFourTupleIsANewConnection) {
    Capture c;
    c.handshake();
    c.segment(true, 0, "QUIT\r\n", 0);
    CapturedSegment syn;
    syn.time_ns = c.time += 1000;
    syn.source_ip = client_ip;
    syn.destination_ip = server_ip;
    syn.source_port = client_port;
    syn.destination_port = server_port;
    syn.seq = 77;
    syn.flags = tcp::SYN;
    c.assembler.add(syn);
    EXPECT_EQ(c.assembler.finish().size(), 2u);
}

// The split used by the replay: greeting, pipelined group, text, QUIT.
TEST(ReplayScript, TurnsFollowTheRepliesTheClientHadReceived) {
    Capture c;
    c.handshake();
    std::uint32_t s = 0, k = 0;  // server and client offsets
    auto server = [&](const std::string& text) { c.segment(false, s, text, k); s += text.size(); };
    auto client = [&](const std::string& text) { c.segment(true, k, text, s); k += text.size(); };
    server(greeting);
    client("EHLO a\r\n");
    server(ehlo_reply);
    client("MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n");
    server("250 ok\r\n550 no\r\n");
    server("554 no valid recipients\r\n");
    client("QUIT\r\n");
    server("221 bye\r\n");
    ReplayScript script = make_replay_script(c.assembler.finish());
    ASSERT_EQ(script.sessions.size(), 1u);
    const auto& steps = script.sessions[0].steps;
    ASSERT_EQ(steps.size(), 4u);
    EXPECT_EQ(steps[0].send, "");
    EXPECT_EQ(steps[0].expect, std::vector<std::string>{"2xx"});
    EXPECT_EQ(steps[1].send, "EHLO a\r\n");
    EXPECT_EQ(steps[2].expect, (std::vector<std::string>{"2xx", "5xx", "5xx"}));
    EXPECT_EQ(steps[3].send, "QUIT\r\n");
    EXPECT_EQ(steps[3].expect, std::vector<std::string>{"2xx"});
    EXPECT_EQ(script.sessions[0].turns(), 3u);
}

TEST(ReplayScript, Pop3ResponsesAreFramedByTheCommandsSent) {
    Capture c;
    c.handshake();
    std::uint32_t s = 0, k = 0;
    auto server = [&](const std::string& text) { c.segment(false, s, text, k); s += text.size(); };
    auto client = [&](const std::string& text) { c.segment(true, k, text, s); k += text.size(); };
    server("+OK ready\r\n");
    client("RETR 1\r\n");
    server("+OK\r\n250 looks like SMTP\r\n.\r\n");
    client("QUIT\r\n");
    server("+OK bye\r\n");
    ReplayScript script = make_replay_script(c.assembler.finish());
    ASSERT_EQ(script.sessions.size(), 1u);
    EXPECT_EQ(script.sessions[0].protocol, Protocol::pop3);
    const auto& steps = script.sessions[0].steps;
    ASSERT_EQ(steps.size(), 3u);
    EXPECT_EQ(steps[1].expect, std::vector<std::string>{"+OK"});
    EXPECT_EQ(steps[2].expect, std::vector<std::string>{"+OK"});
}

}  // namespace
}  // namespace bm::mailgun
