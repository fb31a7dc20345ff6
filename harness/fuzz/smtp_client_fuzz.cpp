// The relay client (SMTP client side) against a hostile next hop: any
// reply bytes, split anywhere, and a queue whose reads may fail.
//
// Input: 4 settings octets, then what the server sends.
//   0: bit 0-1 recipients (1..4), bit 2 the text lacks its last CRLF,
//      bit 3 8-bit text, bit 4 idle timeout at the end, bit 5 shutdown
//   1: seed of the piece sizes   2: seed of the store's answers
//   3: the send queue's bound (streaming)
//
// Beyond "no crash": commands are CRLF lines (RFC 5321 §2.3.8) of at most
// 512 octets (§4.5.3.1.4); exactly one report, one result per recipient
// in order; a recipient counts as delivered only if the final dot went
// out, and what went out between DATA and the dot is the queued text
// dot-stuffed (§4.5.2), whole; a bounce built from the results (RFC 3464)
// is CRLF lines only; logged fields survive the log's escaping.
#include <cstdint>
#include <string>
#include <vector>

#include "apps/relay/dsn.hpp"
#include "apps/smtp_client.hpp"
#include "harness/fuzz/fuzz_support.hpp"
#include "harness/fuzz/session_driver.hpp"

namespace {

using namespace bm;
using namespace bm::fuzz;

const std::string queued_text = "Subject: relay\r\n\r\n.\r\n..two\r\nFrom x\r\n.end\r\nlast line\r\n";

// RFC 5321 §4.5.2: a leading dot is doubled; a text without a final CRLF
// gets one before the terminating dot.
std::string stuffed(std::string_view text) {
    std::string out;
    bool line_start = true;
    for (char c : text) {
        if (line_start && c == '.') out += '.';
        out += c;
        line_start = c == '\n';
    }
    if (!text.empty() && !text.ends_with("\r\n")) out += "\r\n";
    return out;
}

struct Report final : apps::RelayReport {
    void on_relay_result(const std::vector<apps::RecipientResult>& results) override {
        check(++calls == 1, "relay result reported twice");
        got = results;
    }
    int calls = 0;
    std::vector<apps::RecipientResult> got;
};

struct Store {
    Choices choices;
    std::string text;
    apps::StoreReply answer(const apps::StoreRequest& request) {
        const auto* read = std::get_if<apps::ReadQueued>(&request);
        check(read != nullptr, "relay client asked the store for something other than its text");
        check(read->queue_name == "q1", "read another queue file", read->queue_name);
        check(read->max_bytes > 0 && read->offset <= text.size(), "bad read of the queued text");
        if (choices.next(12) == 0) return apps::QueuedText{apps::Outcome::temp_failure, {}, false};
        std::size_t n = std::min<std::size_t>(read->max_bytes, 1 + choices.next(20));
        std::string piece = text.substr(read->offset, n);
        return apps::QueuedText{apps::Outcome::ok, piece, read->offset + piece.size() == text.size()};
    }
};

void check_commands(std::string_view out, std::string_view text) {
    std::size_t data = out.find("DATA\r\n");
    std::string_view commands = out.substr(0, data);
    check_crlf_only(commands, "command not in CRLF lines");
    for (std::size_t at = 0; at < commands.size();) {
        std::size_t end = commands.find("\r\n", at) + 2;
        check(end - at <= 512, "command line over 512 octets", commands.substr(at, end - at));
        at = end;
    }
    if (data == std::string_view::npos) return;
    std::string_view body = out.substr(data + 6);
    std::size_t dot = body.find("\r\n.\r\n");
    bool bare = body.starts_with(".\r\n");  // an empty text
    if (dot == std::string_view::npos && !bare) return;  // the text was cut: no dot went out
    std::string_view sent = bare ? std::string_view() : body.substr(0, dot + 2);
    check(sent == stuffed(text), "DATA text is not the queued text dot-stuffed", sent);
    std::string_view after = body.substr(bare ? 3 : dot + 5);
    check_crlf_only(after, "command after DATA not in CRLF lines");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size, 4);
    apps::SmtpClientConfig config;
    config.hostname = "relay.test";
    apps::OutboundMessage message;
    message.sender = (in.setting(0) & 0x40) ? "" : "sender@relay.test";
    for (int i = 0; i <= (in.setting(0) & 3); ++i) message.recipients.push_back("r" + std::to_string(i) + "@far.test");
    message.queue_name = "q1";
    std::string text = queued_text;
    if (in.setting(0) & 4) text.resize(text.size() - 2);
    if (in.setting(0) & 8) text += "caf\xc3\xa9\r\n";
    message.size = text.size();
    message.eight_bit = (in.setting(0) & 8) != 0;

    RecordingTransport transport;
    transport.bound = 16384 + in.setting(3) * 64;
    QueuedPort port;
    CheckingObserver observer;
    Report report;
    Store store{Choices(in.setting(2)), text};
    apps::SmtpClient client(config, message, transport, port, observer, report);
    SessionDriver driver{client, transport, port, [&](const apps::StoreRequest& r) { return store.answer(r); }};
    client.start();
    Choices sizes(in.setting(1));
    driver.feed(in.stream, sizes);
    if (!transport.closed && (in.setting(0) & 0x10)) client.on_idle_timeout();
    else if (!transport.closed && (in.setting(0) & 0x20)) client.on_shutdown();
    driver.settle();
    driver.finish();

    check(report.calls == 1, "no relay result reported");
    check(report.got.size() == message.recipients.size(), "not one result per recipient");
    check_commands(transport.sent, text);
    bool dot_sent = transport.sent.find("\r\n.\r\n") != std::string::npos ||
                    transport.sent.find("DATA\r\n.\r\n") != std::string::npos;
    apps::BounceInput bounce{"relay.test", "sender@relay.test", "q1", 1700000000, 1700000100, "u1", {}, text};
    for (std::size_t i = 0; i < report.got.size(); ++i) {
        const apps::RecipientResult& r = report.got[i];
        check(r.address == message.recipients[i], "results out of order");
        check(r.outcome != apps::RelayOutcome::delivered || dot_sent, "delivered without the final dot");
        check_log_field(r.reply);
        if (r.outcome != apps::RelayOutcome::delivered) bounce.failed.push_back({r.address, r.reply});
    }
    if (!bounce.failed.empty()) check_crlf_only(apps::build_dsn(bounce), "bounce not in CRLF lines");
    return 0;
}
