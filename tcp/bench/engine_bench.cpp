// The engine in process, with a fake Output that keeps nothing: what one
// polling core spends on TCP plus the machine, without NIC or frames.
//   EchoRoundTrip         an established echo session: one segment with an
//                         ECHO line in, one segment with the reply out (it
//                         also ACKs the previous reply)
//   SmtpHandshakeHeloQuit SYN, SYN-ACK, ACK, greeting, HELO/250, QUIT/221+FIN,
//                         the client's ACK+FIN, our last ACK: a whole
//                         connection, ending in TIME-WAIT (reclaimed when
//                         the table is full)
//   Pop3RetrBulk          a 1 MB RETR through a 64 KB peer window: each
//                         iteration is one client ACK and the segments it
//                         releases (cut from the send buffer at SND.NXT)
//   SmtpSinkSession       one whole SMTP session as a non-pipelining client
//                         runs it against --sink: handshake, greeting, EHLO,
//                         MAIL, RCPT, DATA, a 1 KiB body with its final dot,
//                         QUIT, the FIN exchange; the store's part is a
//                         sink's (every recipient exists, every message is
//                         taken), answered after each segment as the poll
//                         loop would. Counters: allocs/session.
// Counters: segments/s (in + out), and heap allocations per iteration
// (operator new calls, from tests/heap_meter.cpp).
#include <benchmark/benchmark.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "apps/hosted_session.hpp"
#include "tcp/engine.hpp"
#include "harness/testing/heap_meter.hpp"

namespace bm::tcp {
namespace {

constexpr std::uint32_t server_ip = 0x0a630002, client_ip = 0x0a630001;
constexpr std::uint16_t smtp_port = 2500, echo_port = 10000;

class DiscardOutput final : public Output {
public:
    void emit(const SegmentOut& segment, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) override {
        last = segment;
        last_len = std::uint32_t(a.size() + b.size());
        if (a.size() >= 3) std::memcpy(last_code, a.data(), 3);
        ++segments;
    }
    // The reply code of the last segment with data ("250", "354", ...).
    std::string_view code() const { return {last_code, 3}; }
    // Where the client's ACK goes after the last segment.
    std::uint32_t next_ack() const { return last.seq + last_len + ((last.flags & (SYN | FIN)) ? 1 : 0); }
    SegmentOut last;
    std::uint32_t last_len = 0;
    std::uint64_t segments = 0;
    char last_code[3] = {};
};

// Remembers the last request's token; the benchmark answers it.
class NoStore final : public StorePort {
public:
    void submit(std::uint64_t token, apps::StoreRequest request) override {
        last_token = token;
        if (auto* read = std::get_if<apps::ReadMessage>(&request)) pending_read = *read;
    }
    std::uint64_t last_token = 0;
    std::optional<apps::ReadMessage> pending_read;  // RETR asks piece by piece
};

class QuietLog final : public EventSink {
public:
    void event(std::string_view, std::string_view, std::string_view, std::string_view) override {}
    bool verbose() const override { return false; }
    void debug(std::uint64_t, std::string_view, std::string_view) override {}
};

EngineConfig bench_config() {
    EngineConfig config;
    config.tcb_capacity = 4096;
    config.max_conn_per_service = 4096;
    config.buffer_bytes = 16u << 20;
    config.fixed_isn = true;
    config.isn_secret[0] = 0x0123456789abcdefull;
    config.isn_secret[1] = 0xfedcba9876543210ull;
    apps::HostConfig host;
    host.smtp.hostname = "mx.test";
    host.smtp.local_domains = {"mx.test"};
    host.smtp.now = [] { return std::time_t(1700000000); };
    host.pop3.hostname = "mx.test";
    config.services = std::make_shared<const apps::ServiceHost>(std::move(host));
    return config;
}

std::span<const std::uint8_t> bytes_of(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

struct Fixture {
    DiscardOutput out;
    NoStore store;
    QuietLog log;
    Engine engine{bench_config(), out, store, log};
    std::uint64_t now_us = 1'000'000'000;

    // One client segment; returns the client's next sequence number.
    std::uint32_t send(const FourTuple& tuple, std::uint32_t seq, std::uint32_t ack, std::uint8_t flags,
                       std::string_view payload = {}) {
        SegmentIn in;
        in.tuple = tuple;
        in.seq = seq;
        in.ack = ack;
        in.flags = flags;
        in.window = 65535 >> 7;
        in.payload = bytes_of(payload);
        if (flags & SYN) in.options = {1460, 7, false, false, 0, 0};
        engine.on_segment(in, now_us);
        return seq + std::uint32_t(payload.size()) + ((flags & (SYN | FIN)) ? 1 : 0);
    }
};

void report(benchmark::State& state, std::uint64_t segments, std::uint64_t allocations) {
    state.counters["segments/s"] = benchmark::Counter(double(segments), benchmark::Counter::kIsRate);
    state.counters["allocs/iter"] =
        benchmark::Counter(double(allocations), benchmark::Counter::kAvgIterations);
}

void EchoRoundTrip(benchmark::State& state) {
    Fixture f;
    FourTuple tuple{server_ip, echo_port, client_ip, 40000};
    std::uint32_t seq = f.send(tuple, 1000, 0, SYN);
    seq = f.send(tuple, seq, f.out.next_ack(), ACK);  // the greeting follows
    std::string line = "ECHO " + std::string(std::size_t(state.range(0)), 'x') + "\r\n";
    std::uint64_t segments_before = f.out.segments;
    heap::mark();
    std::uint64_t round_trips = 0;
    for (auto _ : state) {
        ++f.now_us;
        seq = f.send(tuple, seq, f.out.next_ack(), ACK | PSH, line);
        ++round_trips;
    }
    std::uint64_t out = f.out.segments - segments_before;
    if (out != round_trips) state.SkipWithError("not one reply segment per request");
    report(state, round_trips + out, heap::stats().allocations);
}
// 4: "+OK xxxx" fits the machine's small strings; 100: it allocates (apps/).
BENCHMARK(EchoRoundTrip)->Arg(4)->Arg(100);

void SmtpHandshakeHeloQuit(benchmark::State& state) {
    Fixture f;
    std::uint64_t segments_in = 0;
    std::uint32_t n = 0;
    heap::mark();
    for (auto _ : state) {
        ++f.now_us;
        ++n;
        FourTuple tuple{server_ip, smtp_port, client_ip + (n >> 14), std::uint16_t(1024 + (n & 0x3fff))};
        std::uint32_t seq = f.send(tuple, 1000 + n, 0, SYN);
        seq = f.send(tuple, seq, f.out.next_ack(), ACK);                        // -> 220
        seq = f.send(tuple, seq, f.out.next_ack(), ACK | PSH, "HELO client.test\r\n");  // -> 250
        seq = f.send(tuple, seq, f.out.next_ack(), ACK | PSH, "QUIT\r\n");      // -> 221, FIN
        f.send(tuple, seq, f.out.next_ack(), ACK | FIN);                        // -> ACK, TIME-WAIT
        segments_in += 5;
    }
    if (f.engine.open_connections() != 0) state.SkipWithError("connections left open");
    report(state, segments_in + f.out.segments, heap::stats().allocations);
    state.counters["connections/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(SmtpHandshakeHeloQuit);

// The store of --sink (as dataplane/common/mail_backend answers it): the
// requests a segment made are kept and answered after it, never inside
// submit (apps/mail_port.hpp).
class SinkStore final : public StorePort {
public:
    SinkStore() { pending_.reserve(8); }
    void submit(std::uint64_t token, apps::StoreRequest request) override {
        pending_.emplace_back(token, std::move(request));
    }
    // Answers every pending request; returns how many.
    std::size_t answer(Engine& engine, std::uint64_t now_us) {
        std::size_t n = 0;
        while (!pending_.empty()) {  // an answer may make the session ask again
            auto [token, request] = std::move(pending_.front());
            pending_.erase(pending_.begin());
            engine.on_store_reply(token, reply_to(request), now_us);
            ++n;
        }
        return n;
    }

private:
    static apps::StoreReply reply_to(apps::StoreRequest& request) {
        if (auto* lookup = std::get_if<apps::LookupUser>(&request))
            return apps::UserFound{apps::Outcome::ok, std::move(lookup->local_part)};
        if (std::holds_alternative<apps::Deliver>(request)) return apps::Delivered{apps::Outcome::ok, {}};
        if (auto* chunk = std::get_if<apps::SpoolChunk>(&request))
            return apps::Spooled{apps::Outcome::ok, chunk->spool ? chunk->spool : 1};
        if (std::holds_alternative<apps::DropSpool>(request)) return apps::SpoolDropped{};
        return apps::MaildropClosed{apps::Outcome::temp_failure};  // no SMTP session asks for more
    }
    std::vector<std::pair<std::uint64_t, apps::StoreRequest>> pending_;
};

// A 1 KiB body of 64-octet lines, then the final dot (RFC 5321 §4.1.1.4).
std::string sink_session_body() {
    std::string body = "Subject: bench\r\n\r\n";
    while (body.size() < 1024) body += std::string(62, 'x') + "\r\n";
    body.resize(1024 - 2);
    return body + "\r\n.\r\n";
}

void SmtpSinkSession(benchmark::State& state) {
    DiscardOutput out;
    SinkStore store;
    QuietLog log;
    Engine engine{bench_config(), out, store, log};
    std::uint64_t now_us = 1'000'000'000;
    const std::string body = sink_session_body();
    const std::string_view commands[] = {"EHLO client.test\r\n", "MAIL FROM:<bench@client.test>\r\n",
                                         "RCPT TO:<user@mx.test>\r\n", "DATA\r\n", body, "QUIT\r\n"};
    // One client segment, then what the poll loop does next: the store's
    // answers. Returns the client's next sequence number.
    auto send = [&](const FourTuple& tuple, std::uint32_t seq, std::uint8_t flags, std::string_view payload = {}) {
        SegmentIn in;
        in.tuple = tuple;
        in.seq = seq;
        in.ack = (flags & ACK) ? out.next_ack() : 0;
        in.flags = flags;
        in.window = 65535;
        in.payload = bytes_of(payload);
        if (flags & SYN) in.options = {1460, -1, false, false, 0, 0};
        engine.on_segment(in, now_us);
        store.answer(engine, now_us);
        return seq + std::uint32_t(payload.size()) + ((flags & (SYN | FIN)) ? 1 : 0);
    };
    const std::string_view expected_codes[] = {"250", "250", "250", "354", "250", "221"};
    std::uint64_t segments_in = 0, segments_before = out.segments, wrong_replies = 0;
    std::uint32_t n = 0;
    heap::mark();
    for (auto _ : state) {
        ++now_us;
        ++n;
        FourTuple tuple{server_ip, smtp_port, client_ip + (n >> 14), std::uint16_t(1024 + (n & 0x3fff))};
        std::uint32_t seq = send(tuple, 1000 + n, SYN);
        seq = send(tuple, seq, ACK);  // -> 220
        for (std::size_t i = 0; i < std::size(commands); ++i) {
            seq = send(tuple, seq, ACK | PSH, commands[i]);  // each -> its reply
            if (out.code() != expected_codes[i]) ++wrong_replies;
        }
        send(tuple, seq, ACK | FIN);  // after 221+FIN -> ACK, TIME-WAIT
        segments_in += 3 + std::size(commands);
    }
    std::uint64_t allocations = heap::stats().allocations;
    if (wrong_replies != 0) state.SkipWithError("a reply was not the one a sink gives");
    if (engine.open_connections() != 0) state.SkipWithError("connections left open");
    if (engine.counters().connections_opened != std::uint64_t(state.iterations())) state.SkipWithError("a session did not open");
    state.counters["segments/s"] =
        benchmark::Counter(double(segments_in + out.segments - segments_before), benchmark::Counter::kIsRate);
    state.counters["allocs/session"] = benchmark::Counter(double(allocations), benchmark::Counter::kAvgIterations);
    state.counters["sessions/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(SmtpSinkSession);

void Pop3RetrBulk(benchmark::State& state) {
    Fixture f;
    FourTuple tuple{server_ip, 11000, client_ip, 40000};
    std::uint32_t seq = f.send(tuple, 1000, 0, SYN);
    seq = f.send(tuple, seq, f.out.next_ack(), ACK);
    seq = f.send(tuple, seq, f.out.next_ack(), ACK | PSH, "USER bob\r\n");
    seq = f.send(tuple, seq, f.out.next_ack(), ACK | PSH, "PASS secret\r\n");
    std::string message;
    while (message.size() < (1u << 20)) message += "a line of a big message, long enough to be typical\r\n";
    f.engine.on_store_reply(f.store.last_token, apps::MaildropOpened{apps::Outcome::ok, 1, {{message.size(), "u"}}},
                            f.now_us);
    std::uint64_t segments_before = f.out.segments;
    heap::mark();
    bool retr_due = true;
    for (auto _ : state) {
        ++f.now_us;
        if (retr_due) {
            state.PauseTiming();
            seq = f.send(tuple, seq, f.out.next_ack(), ACK | PSH, "RETR 1\r\n");
            retr_due = false;
            state.ResumeTiming();
        }
        if (auto read = std::exchange(f.store.pending_read, std::nullopt)) {
            // The store's side (cutting the piece) is not the engine's cost.
            state.PauseTiming();
            std::size_t n = std::min<std::size_t>(read->max_bytes, message.size() - read->offset);
            apps::MessageText piece{apps::Outcome::ok, message.substr(read->offset, n),
                                    read->offset + n == message.size()};
            state.ResumeTiming();
            f.engine.on_store_reply(f.store.last_token, std::move(piece), f.now_us);
        }
        std::uint64_t before = f.out.segments;
        f.send(tuple, seq, f.out.next_ack(), ACK);
        if (f.out.segments == before) retr_due = true;  // all sent and acknowledged
    }
    report(state, f.out.segments - segments_before, heap::stats().allocations);
}
BENCHMARK(Pop3RetrBulk);

}  // namespace
}  // namespace bm::tcp

BENCHMARK_MAIN();
