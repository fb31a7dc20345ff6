// In-process cost of the protocol machines (no sockets, no disk): what one
// SMTP transaction and one POP3 retrieval cost the polling core. The store
// answers at once, so the figures are the machines' own CPU time.
#include <benchmark/benchmark.h>

#include <string>

#include "apps/header_scan.hpp"
#include "apps/line_reader.hpp"
#include "apps/pop3_server.hpp"
#include "apps/smtp_server.hpp"
#include "apps/tests/session_harness.hpp"

namespace {

using namespace bm::apps;
using bm::apps::testing::QueuedMailPort;
using bm::apps::testing::RecordingTransport;

class NullObserver : public Observer {};

StoreReply answer(const StoreRequest& request) {
    if (std::holds_alternative<LookupUser>(request)) return UserFound{Outcome::ok, "alice"};
    if (std::holds_alternative<Deliver>(request)) return Delivered{Outcome::ok, {}};
    if (std::holds_alternative<SpoolChunk>(request)) return Spooled{Outcome::ok, 1};
    if (std::holds_alternative<DropSpool>(request)) return SpoolDropped{};
    if (std::holds_alternative<OpenMaildrop>(request))
        return MaildropOpened{Outcome::ok, 1, {{1026, "uid1"}}};
    if (std::holds_alternative<ReadMessage>(request))
        return MessageText{Outcome::ok, "Subject: x\r\n\r\n" + std::string(1000, 'b') + "\r\n", true};
    return MaildropClosed{Outcome::ok};
}

std::string smtp_transaction(std::size_t body_octets) {
    std::string body;
    while (body.size() < body_octets) body += std::string(76, 'x') + "\r\n";
    return "EHLO client.example\r\nMAIL FROM:<bob@example.org>\r\nRCPT TO:<alice@localhost>\r\n"
           "DATA\r\nSubject: bench\r\n\r\n" + body + ".\r\nQUIT\r\n";
}

// One whole session, kept out of line so that an instruction count
// (valgrind --tool=callgrind --toggle-collect='*run_session*') divides by
// its calls into a per-session figure.
template <typename Machine, typename Config>
[[gnu::noinline]] void run_session(const Config& config, const Peer& peer, std::string_view input,
                                   Observer& observer) {
    RecordingTransport transport;
    QueuedMailPort port;
    Machine session(config, peer, transport, port, observer);
    session.start();
    bm::apps::testing::feed(session, transport, port, input, 1460, answer);
    benchmark::DoNotOptimize(transport.sent);
}

void BM_SmtpTransaction(benchmark::State& state) {
    SmtpConfig config;
    Peer peer{0x7f000001, 40000, 0x7f000001, true, 1};  // 127.0.0.1
    std::string input = smtp_transaction(std::size_t(state.range(0)));
    NullObserver observer;
    for (auto _ : state) run_session<SmtpServer>(config, peer, input, observer);
    state.SetBytesProcessed(std::int64_t(state.iterations() * input.size()));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SmtpTransaction)->Arg(1024)->Arg(64 * 1024);

void BM_Pop3LoginRetrQuit(benchmark::State& state) {
    Pop3Config config;
    Peer peer{0x7f000001, 40000, 0x7f000001, false, 1};  // 127.0.0.1
    std::string input = "USER alice\r\nPASS secret\r\nSTAT\r\nUIDL\r\nRETR 1\r\nQUIT\r\n";
    NullObserver observer;
    for (auto _ : state) run_session<Pop3Server>(config, peer, input, observer);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Pop3LoginRetrQuit);

void BM_LineReaderPipelined(benchmark::State& state) {
    std::string input;
    for (int i = 0; i < 100; ++i) input += "RCPT TO:<user" + std::to_string(i) + "@localhost>\r\n";
    for (auto _ : state) {
        LineReader reader(1000, 1 << 16);
        reader.feed(input);
        std::size_t lines = 0;
        while (reader.next()) ++lines;
        benchmark::DoNotOptimize(lines);
    }
    state.SetBytesProcessed(std::int64_t(state.iterations() * input.size()));
}
BENCHMARK(BM_LineReaderPipelined);

}  // namespace

// What header fill learns while a message arrives: a header section of
// 40 fields (about 4 KiB, as mail that went through a few relays carries)
// in 1460-octet segments, then a 60 KiB body the scan must not walk.
void BM_HeaderScan(benchmark::State& state) {
    std::string message;
    for (int i = 0; i < 40; ++i)
        message += "X-Trace-" + std::to_string(i) + ": " + std::string(86, 'h') + "\r\n";
    message += "Message-ID: <m@example.org>\r\n\r\n";
    while (message.size() < 64 * 1024) message += std::string(76, 'b') + "\r\n";
    for (auto _ : state) {
        HeaderScan scan;
        for (std::size_t at = 0; at < message.size(); at += 1460)
            scan.feed(std::string_view(message).substr(at, 1460));
        benchmark::DoNotOptimize(scan.has_message_id());
    }
    state.SetBytesProcessed(std::int64_t(state.iterations() * message.size()));
}
BENCHMARK(BM_HeaderScan);

BENCHMARK_MAIN();
