// The POP3 server against any client byte stream, split anywhere, with a
// store whose logins, maildrops and message texts the input decides.
//
// Input: 4 settings octets, then what the client sends.
//   0: the send queue's bound (streaming)   1: seed of the piece sizes   2: seed of the store's answers
//   3: bit 0 idle timeout at the end, bit 1 shutdown at the end
//
// Beyond "no crash": the output is CRLF lines only (RFC 1939 §3); every
// maildrop the store opened is closed exactly once, only by its session,
// and nothing is read from one that is not open (lock/unlock balance);
// deletions name messages of the listing, each once; at most one store
// request is out at a time; logged fields survive the log's escaping.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "apps/pop3_server.hpp"
#include "apps/ipv4_text.hpp"
#include "harness/fuzz/fuzz_support.hpp"
#include "harness/fuzz/session_driver.hpp"

namespace {

using namespace bm;
using namespace bm::fuzz;

// Message texts with what dot-stuffing and TOP can trip on.
std::string message_text(std::uint32_t n) {
    static const char* const lines[] = {"Subject: test", "From: a@b", "", ".", "..", ".hidden", "From here",
                                        "body", "", "x"};
    std::string text;
    for (std::uint32_t i = 0; i < 3 + n * 2; ++i) text += std::string(lines[(i + n) % 10]) + "\r\n";
    return text;
}

// RFC 1939 §7 TOP: the header, the blank line, then `lines` body lines.
std::string top_of(const std::string& text, std::int32_t lines) {
    std::size_t end = text.find("\r\n\r\n");
    if (end == std::string::npos) return text;
    end += 4;
    for (std::int32_t i = 0; i < lines && end < text.size(); ++i) end = text.find("\r\n", end) + 2;
    return text.substr(0, end);
}

struct Store {
    Choices choices;
    std::uint32_t next_handle = 1;
    std::map<std::uint32_t, std::vector<std::string>> open;  // handle -> message texts

    apps::StoreReply answer(const apps::StoreRequest& request) {
        if (const auto* login = std::get_if<apps::OpenMaildrop>(&request)) return open_maildrop(*login);
        if (const auto* read = std::get_if<apps::ReadMessage>(&request)) return read_message(*read);
        if (const auto* close = std::get_if<apps::CloseMaildrop>(&request)) return close_maildrop(*close);
        fail("POP3 session asked the store for something it has no business with");
    }

    apps::StoreReply open_maildrop(const apps::OpenMaildrop& login) {
        check_log_field(login.user);
        check(login.password.empty() != login.apop_digest.empty(), "login with both or neither of PASS and APOP");
        switch (choices.next(6)) {
        case 0: return apps::MaildropOpened{apps::Outcome::auth_failed, 0, {}};
        case 1: return apps::MaildropOpened{apps::Outcome::in_use, 0, {}};
        case 2: return apps::MaildropOpened{apps::Outcome::temp_failure, 0, {}};
        default: break;
        }
        std::uint32_t handle = next_handle++;
        std::vector<std::string>& texts = open[handle];
        apps::MaildropOpened opened{apps::Outcome::ok, handle, {}};
        for (std::uint32_t i = 0, n = choices.next(5); i < n; ++i) {
            texts.push_back(message_text(choices.next(40)));
            opened.messages.push_back({texts.back().size(), "uid" + std::to_string(i)});
        }
        return opened;
    }

    apps::StoreReply read_message(const apps::ReadMessage& read) {
        auto it = open.find(read.maildrop);
        check(it != open.end(), "read from a maildrop that is not open");
        check(read.index < it->second.size(), "read past the listing");
        check(read.max_bytes > 0, "read of 0 octets");
        if (choices.next(16) == 0) return apps::MessageText{apps::Outcome::temp_failure, {}, false};
        std::string text = it->second[read.index];
        if (read.top_lines >= 0) text = top_of(text, read.top_lines);
        check(read.offset <= text.size(), "read past the end of the message");
        std::string piece = text.substr(read.offset, read.max_bytes);
        bool end = read.offset + piece.size() == text.size();
        return apps::MessageText{apps::Outcome::ok, piece, end};
    }

    apps::StoreReply close_maildrop(const apps::CloseMaildrop& close) {
        auto it = open.find(close.maildrop);
        check(it != open.end(), "closed a maildrop that is not open (twice, or never opened)");
        std::set<std::uint32_t> seen;
        for (std::uint32_t index : close.deleted) {
            check(index < it->second.size(), "deleted a message past the listing");
            check(seen.insert(index).second, "deleted a message twice");
        }
        open.erase(it);
        return apps::MaildropClosed{choices.next(8) == 0 ? apps::Outcome::temp_failure : apps::Outcome::ok};
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size, 4);
    apps::Pop3Config config;
    config.hostname = "mx.test";
    config.now = [] { return std::time_t(1700000000); };
    apps::Peer peer{*parse_ipv4("192.0.2.7"), 40000, *parse_ipv4("10.99.0.1"), false, 1};

    RecordingTransport transport;
    transport.bound = 16384 + (in.setting(0) & 0x3f) * 512;  // RETR streams as the queue drains
    QueuedPort port;
    CheckingObserver observer;
    Store store{Choices(in.setting(2))};
    apps::Pop3Server server(config, peer, transport, port, observer);
    SessionDriver driver{server, transport, port, [&](const apps::StoreRequest& r) { return store.answer(r); }};
    // A login the session never saw is undone by the driver (MailBackend).
    driver.unclaimed = [&](const apps::StoreReply& reply) {
        if (const auto* opened = std::get_if<apps::MaildropOpened>(&reply); opened && opened->outcome == apps::Outcome::ok)
            store.open.erase(opened->maildrop);
    };
    server.start();
    Choices sizes(in.setting(1));
    driver.feed(in.stream, sizes);
    if (!transport.closed && (in.setting(3) & 1)) server.on_idle_timeout();
    else if (!transport.closed && (in.setting(3) & 2)) server.on_shutdown();
    driver.settle();
    driver.finish();
    check(store.open.empty(), "a maildrop stays locked after its session ended");
    check_crlf_only(transport.sent, "POP3 output not in CRLF lines");
    return 0;
}
