// The line reader and the SMTP receiver against any client byte stream,
// split anywhere, with a store that answers as the input decides.
//
// Input: 4 settings octets, then what the client sends.
//   0: bit 0 the client may relay, bit 1 header fill, bit 2 a 300-octet
//      size limit, bit 3 at most 3 recipients
//   1: seed of the piece sizes   2: seed of the store's answers
//
// Beyond "no crash": every reply line is "NNN " or "NNN-", ends in CRLF,
// nothing else, and is at most 512 octets (RFC 5321 §4.2, §2.3.8,
// §4.5.3.1.5); nothing is relayed for a
// client without permission; a stored message is CRLF lines only (no
// smuggling, §2.3.8); at most one store request is out at a time; every
// logged field survives the log's escaping.
#include <cstdint>
#include <string>

#include "apps/smtp_server.hpp"
#include "apps/ipv4_text.hpp"
#include "harness/fuzz/fuzz_support.hpp"
#include "harness/fuzz/session_driver.hpp"

namespace {

using namespace bm;
using namespace bm::fuzz;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

void check_reply_lines(std::string_view out) {
    check_crlf_only(out, "SMTP reply not in CRLF lines");
    for (std::size_t at = 0; at < out.size();) {
        std::size_t end = out.find("\r\n", at);
        std::string_view line = out.substr(at, end - at);
        check(line.size() >= 4 && line[0] >= '2' && line[0] <= '5' && is_digit(line[1]) && is_digit(line[2]) &&
                  (line[3] == ' ' || line[3] == '-'),
              "reply line is not NNN SP / NNN -", line);
        check(line.size() + 2 <= 512, "reply line over 512 octets (RFC 5321 §4.5.3.1.5)", line);
        at = end + 2;
    }
}

struct Store {
    Choices choices;
    bool may_relay;
    std::uint32_t max_recipients;

    apps::StoreReply answer(const apps::StoreRequest& request) {
        if (const auto* lookup = std::get_if<apps::LookupUser>(&request)) {
            check_log_field(lookup->local_part);
            switch (choices.next(4)) {
            case 0: return apps::UserFound{apps::Outcome::not_found, {}};
            case 1: return apps::UserFound{apps::Outcome::temp_failure, {}};
            default: return apps::UserFound{apps::Outcome::ok, lookup->local_part};
            }
        }
        if (const auto* chunk = std::get_if<apps::SpoolChunk>(&request)) {
            check_crlf_only(chunk->bytes, "spooled octets not in CRLF lines", false);
            return apps::Spooled{choices.next(8) == 0 ? apps::Outcome::no_space : apps::Outcome::ok, 7};
        }
        if (const auto* deliver = std::get_if<apps::Deliver>(&request)) {
            check_delivery(*deliver);
            static constexpr apps::Outcome outcomes[] = {apps::Outcome::ok, apps::Outcome::ok, apps::Outcome::ok,
                                                          apps::Outcome::temp_failure, apps::Outcome::no_space,
                                                          apps::Outcome::permanent_failure};
            return apps::Delivered{outcomes[choices.next(6)], "fuzz"};
        }
        fail("SMTP session asked the store for something it has no business with");
    }

    void check_delivery(const apps::Deliver& d) {
        check(!d.envelope.recipients.empty(), "delivery without recipients");
        check(d.envelope.recipients.size() <= max_recipients, "more recipients than allowed");
        for (const apps::Recipient& r : d.envelope.recipients) {
            check(may_relay || !r.mailbox.empty(), "relayed for a client without permission", r.address);
            check_log_field(r.address);
        }
        check_log_field(d.envelope.sender);
        check(!d.queue_id.empty() && d.queue_id.find_first_of("\r\n ") == std::string::npos, "bad queue id",
              d.queue_id);
        check_crlf_only(d.head, "added header fields not in CRLF lines");
        check_crlf_only(d.message, "stored message not in CRLF lines", d.spool == 0);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size, 4);
    apps::SmtpConfig config;
    config.hostname = "mx.test";
    config.local_domains = {"mx.test", "localhost"};
    config.header_fill = (in.setting(0) & 2) != 0;
    if (in.setting(0) & 4) config.max_message_size = 300;
    if (in.setting(0) & 8) config.max_recipients = 3;
    config.now = [] { return std::time_t(1700000000); };
    apps::Peer peer{*parse_ipv4("192.0.2.7"), 40000, *parse_ipv4("10.99.0.1"), (in.setting(0) & 1) != 0, 1};

    RecordingTransport transport;
    QueuedPort port;
    CheckingObserver observer;
    Store store{Choices(in.setting(2)), peer.may_relay, config.max_recipients};
    apps::SmtpServer server(config, peer, transport, port, observer);
    SessionDriver driver{server, transport, port, [&](const apps::StoreRequest& r) { return store.answer(r); }};
    server.start();
    Choices sizes(in.setting(1));
    driver.feed(in.stream, sizes);
    // Then the idle timeout, a shutdown, or just the peer going away.
    if (!transport.closed && (in.setting(1) & 1)) server.on_idle_timeout();
    else if (!transport.closed && (in.setting(1) & 2)) server.on_shutdown();
    driver.settle();
    driver.finish();
    check_reply_lines(transport.sent);
    return 0;
}
