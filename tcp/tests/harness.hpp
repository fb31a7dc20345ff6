// smoltcp-style test helpers: build a SegmentIn, hand it to the engine at an
// explicit time, and get back the exact SegmentOuts it emitted (flags, seq,
// ack, window, options, payload). A fake store records requests and lets the
// test answer them; a fake log records events and -v lines.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "apps/hosted_session.hpp"
#include "tcp/engine.hpp"

namespace bm::tcp::testing {

struct Sent {
    SegmentOut segment;
    std::string payload;
};

class CapturingOutput final : public Output {
public:
    void emit(const SegmentOut& segment, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) override {
        Sent sent{segment, {}};
        sent.payload.append(reinterpret_cast<const char*>(a.data()), a.size());
        sent.payload.append(reinterpret_cast<const char*>(b.data()), b.size());
        segments.push_back(std::move(sent));
    }
    std::vector<Sent> take() { return std::exchange(segments, {}); }
    std::vector<Sent> segments;
};

struct StoreCall {
    std::uint64_t token;
    apps::StoreRequest request;
};

class FakeStore final : public StorePort {
public:
    void submit(std::uint64_t token, apps::StoreRequest request) override {
        calls.push_back({token, std::move(request)});
    }
    std::vector<StoreCall> calls;
};

class RecordingLog final : public EventSink {
public:
    void event(std::string_view service, std::string_view peer, std::string_view event,
               std::string_view detail) override {
        events.push_back(std::string(service) + " " + std::string(peer) + " " + std::string(event) + " " +
                         std::string(detail));
    }
    bool verbose() const override { return true; }
    void debug(std::uint64_t connection, std::string_view prefix, std::string_view text) override {
        lines.push_back("[" + std::to_string(connection) + "] " + std::string(prefix) + std::string(text));
    }
    std::vector<std::string> events, lines;
};

constexpr std::uint32_t server_ip = 0x0a630002;  // 10.99.0.2
constexpr std::uint32_t client_ip = 0x0a630001;  // 10.99.0.1
constexpr std::uint16_t smtp_port = 2500, pop3_port = 11000, echo_port = 10000;
constexpr std::uint32_t client_isn = 1000;

inline EngineConfig test_config() {
    EngineConfig config;
    config.tcb_capacity = 64;
    config.buffer_bytes = 4u << 20;
    config.fixed_isn = true;
    config.isn_secret[0] = 0x0123456789abcdefull;
    config.isn_secret[1] = 0xfedcba9876543210ull;
    apps::HostConfig host;
    host.smtp.hostname = "mx.test";
    host.smtp.local_domains = {"mx.test", "localhost"};
    host.smtp.now = [] { return std::time_t(1700000000); };
    host.pop3.hostname = "mx.test";
    host.pop3.now = [] { return std::time_t(1700000000); };
    config.services = std::make_shared<const apps::ServiceHost>(std::move(host));
    return config;
}

inline std::span<const std::uint8_t> bytes_of(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// One simulated client connection: what it has sent and received.
struct Client {
    FourTuple tuple;
    std::uint32_t seq = client_isn + 1;  // next sequence number it sends
    std::uint32_t ack = 0;               // everything from the server up to here received
    std::uint16_t window = 65535;
};

class EngineTest : public ::testing::Test {
protected:
    void start(EngineConfig config = test_config()) {
        config_ = config;
        engine_ = std::make_unique<Engine>(config, out_, store_, log_);
    }
    void SetUp() override { start(); }
    // Whatever a test did, the TCB table is consistent at its end.
    void TearDown() override {
        if (engine_) EXPECT_EQ(engine_->invariant_violation(), "");
    }

    static FourTuple tuple_for(std::uint16_t port, std::uint16_t client_port = 40000) {
        return {server_ip, port, client_ip, client_port};
    }

    SegmentIn segment(const Client& c, std::uint8_t flags, std::string_view payload = {}) {
        SegmentIn in;
        in.tuple = c.tuple;
        in.seq = c.seq;
        in.ack = c.ack;
        in.flags = flags;
        in.window = c.window;
        payload_store_.emplace_back(payload);
        in.payload = bytes_of(payload_store_.back());
        return in;
    }

    // Hands one segment to the engine at the current time.
    std::vector<Sent> arrive(const SegmentIn& in) {
        engine_->on_segment(in, now_);
        return out_.take();
    }
    // The client sends bytes (and flags) in one segment; its seq advances.
    std::vector<Sent> send(Client& c, std::string_view payload, std::uint8_t flags = ACK | PSH) {
        SegmentIn in = segment(c, flags, payload);
        c.seq += std::uint32_t(payload.size()) + ((flags & FIN) ? 1 : 0);
        return arrive(in);
    }
    std::vector<Sent> advance_ms(std::uint64_t ms) {
        now_ += ms * 1000;
        engine_->on_timers(now_);
        return out_.take();
    }
    std::vector<Sent> advance_us(std::uint64_t us) {
        now_ += us;
        engine_->on_timers(now_);
        return out_.take();
    }

    // SYN (with MSS 1460 and window scale 7) -> SYN-ACK -> ACK; returns the
    // client with the greeting received and ACKed-to-be.
    Client connect(std::uint16_t port, std::uint16_t client_port = 40000, std::string* greeting = nullptr,
                   bool scale = true) {
        Client c;
        c.tuple = tuple_for(port, client_port);
        c.seq = client_isn;
        SegmentIn syn = segment(c, SYN);
        syn.options.mss = 1460;
        if (scale) syn.options.window_scale = 7;
        auto synack = arrive(syn);
        EXPECT_EQ(synack.size(), 1u);
        if (synack.empty()) return c;
        c.seq = client_isn + 1;
        c.ack = synack[0].segment.seq + 1;
        c.window = scale ? 65535 >> 7 : 65535;  // the client scales too
        auto hello = arrive(segment(c, ACK));
        std::string text;
        for (auto& s : hello) {
            text += s.payload;
            c.ack = s.segment.seq + std::uint32_t(s.payload.size()) + ((s.segment.flags & FIN) ? 1 : 0);
        }
        if (greeting) *greeting = text;
        EXPECT_TRUE(acknowledge(c).empty());  // the greeting arrived
        return c;
    }

    // The client ACKs everything it has and receives whatever that releases.
    std::vector<Sent> acknowledge(Client& c) { return arrive(segment(c, ACK)); }

    // Collects payload bytes of segments in order, updating what the client has.
    static std::string receive(Client& c, const std::vector<Sent>& segments) {
        std::string text;
        for (const Sent& s : segments) {
            if (s.segment.seq != c.ack) continue;  // a duplicate or a gap
            text += s.payload;
            c.ack += std::uint32_t(s.payload.size()) + ((s.segment.flags & FIN) ? 1 : 0);
        }
        return text;
    }

    // Answers the oldest store request the way a healthy store would.
    void answer(apps::StoreReply reply) {
        ASSERT_FALSE(store_.calls.empty());
        StoreCall call = std::move(store_.calls.front());
        store_.calls.erase(store_.calls.begin());
        engine_->on_store_reply(call.token, std::move(reply), now_);
    }

    EngineConfig config_;
    CapturingOutput out_;
    FakeStore store_;
    RecordingLog log_;
    std::unique_ptr<Engine> engine_;
    std::uint64_t now_ = 1'000'000'000;  // 1000 s: any time works, tests move it by hand
    std::vector<std::string> payload_store_;
};

}  // namespace bm::tcp::testing
