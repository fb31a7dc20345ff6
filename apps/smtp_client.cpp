#include "apps/smtp_client.hpp"

#include <algorithm>
#include <charconv>

#include "apps/ascii.hpp"

namespace bm::apps {

namespace {

// RFC 5321 §4.5.3.1.5 caps a reply line at 512 octets; be lenient with
// servers that send longer ones, but bounded.
constexpr std::size_t max_reply_line = 2048;
// A reply of more lines than this is a broken or hostile server.
constexpr std::size_t max_reply_lines = 100;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39.
bool valid_code(std::string_view line) {
    return line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' &&
           line[1] <= '5' && is_digit(line[2]);
}

}  // namespace

SmtpClient::SmtpClient(const SmtpClientConfig& config, OutboundMessage message,
                       Transport& transport, MailPort& store, Observer& observer,
                       RelayReport& report)
    : config_(config),
      message_(std::move(message)),
      transport_(transport),
      store_(store),
      observer_(observer),
      report_(report),
      reader_(max_reply_line) {
    for (const std::string& address : message_.recipients)
        results_.push_back({address, RelayOutcome::temporary, {}});
    settled_.assign(results_.size(), false);
    accepted_.assign(results_.size(), false);
}

// ---- driver events ------------------------------------------------------

std::size_t SmtpClient::on_bytes(std::string_view bytes) {
    if (closed_) return bytes.size();  // after QUIT / abort nothing matters
    std::size_t taken = 0;
    while (!closed_ && !sending_text() && taken < bytes.size()) {
        std::size_t fed = reader_.feed(bytes.substr(taken));
        taken += fed;
        process_input();
        if (fed == 0) break;
    }
    return closed_ ? bytes.size() : taken;
}

void SmtpClient::on_idle_timeout() {
    abort("timeout waiting for a reply (RFC 5321 section 4.5.3.2)");
}

void SmtpClient::on_shutdown() { abort("relay client shutting down"); }

void SmtpClient::on_peer_closed() {
    if (!reported_) {
        settle_open(RelayOutcome::temporary, "connection lost");
        report();
    }
    closed_ = true;
}

void SmtpClient::on_connect_failed(std::string_view reason) {
    abort("cannot connect: " + std::string(reason));
}

// ---- replies --------------------------------------------------------------

void SmtpClient::process_input() {
    while (!closed_ && !sending_text()) {
        std::optional<LineReader::Line> line = reader_.next();
        if (!line) return;
        if (line->kind == LineReader::Kind::too_long) {
            abort("protocol error: reply line too long");
            return;
        }
        observer_.on_reply(line->text);
        if (take_reply_line(line->text)) {
            Reply reply = std::move(reply_);
            reply_ = Reply{};
            on_reply(reply);
        }
    }
}

// RFC 5321 §4.2.1: "250-text" continues a reply, "250 text" or "250" ends
// it; every line carries the same code.
bool SmtpClient::take_reply_line(std::string_view line) {
    bool last = line.size() == 3 || (line.size() > 3 && line[3] == ' ');
    bool more = line.size() > 3 && line[3] == '-';
    if (!valid_code(line) || (!last && !more)) {
        abort("protocol error: bad reply line");
        return false;
    }
    int code = 0;
    std::from_chars(line.data(), line.data() + 3, code);
    if (in_reply_ && code != reply_.code) {
        abort("protocol error: reply code changed inside a multi-line reply");
        return false;
    }
    if (reply_.lines.size() >= max_reply_lines) {
        abort("protocol error: reply too long");
        return false;
    }
    reply_.code = code;
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
    if (!reply_.text.empty()) reply_.text += " / ";
    reply_.text += text;
    reply_.lines.emplace_back(text);
    in_reply_ = !last;
    return last;
}

void SmtpClient::on_reply(const Reply& reply) {
    switch (phase_) {
        case Phase::greeting: on_greeting(reply); break;
        case Phase::ehlo: on_ehlo(reply); break;
        case Phase::helo: on_helo(reply); break;
        case Phase::mail: on_mail(reply); break;
        case Phase::rcpt: on_rcpt(reply); break;
        case Phase::data: on_data(reply); break;
        case Phase::body: on_end_of_data(reply); break;
        case Phase::quit:
            // RFC 5321 §4.1.1.10: after 221 (or anything) we close.
            phase_ = Phase::done;
            closed_ = true;
            transport_.close();
            break;
        case Phase::done: break;
    }
}

void SmtpClient::on_greeting(const Reply& reply) {
    // RFC 5321 §3.1 / §4.3.2: 220, else 554 (or a 4yz) and we only QUIT.
    // Either way it is this host's fault, not the recipients': another MX
    // or a later attempt may do better, so it is temporary.
    if (reply.code / 100 != 2) {
        settle_open(RelayOutcome::temporary, reply.full());
        quit();
        return;
    }
    phase_ = Phase::ehlo;
    send_command("EHLO " + config_.hostname);  // RFC 5321 §4.1.1.1
}

void SmtpClient::on_ehlo(const Reply& reply) {
    if (reply.code / 100 == 2) {
        send_ehlo_capabilities(reply);
        send_mail_from();
        return;
    }
    if (reply.code / 100 == 5) {
        // RFC 5321 §3.2: a server without EHLO answers 500/502; use HELO.
        phase_ = Phase::helo;
        send_command("HELO " + config_.hostname);
        return;
    }
    settle_open(RelayOutcome::temporary, reply.full());
    quit();
}

void SmtpClient::on_helo(const Reply& reply) {
    if (reply.code / 100 == 2) {
        send_mail_from();
        return;
    }
    settle_open(RelayOutcome::temporary, reply.full());
    quit();
}

// RFC 1869 §4.3: the first line is the greeting, each further one a keyword.
void SmtpClient::send_ehlo_capabilities(const Reply& reply) {
    for (std::size_t i = 1; i < reply.lines.size(); ++i) {
        std::string_view line = reply.lines[i];
        if (istarts_with(line, "SIZE") && (line.size() == 4 || line[4] == ' ')) {
            server_size_ = true;  // RFC 1870 §4: "SIZE [limit]"
            if (line.size() > 5) {
                std::uint64_t limit = 0;
                auto [end, ec] = std::from_chars(line.data() + 5, line.data() + line.size(), limit);
                if (ec == std::errc{} && end == line.data() + line.size()) server_size_limit_ = limit;
            }
        } else if (istarts_with(line, "8BITMIME") && line.size() == 8) {
            server_8bitmime_ = true;  // RFC 6152
        }
    }
}

void SmtpClient::send_mail_from() {
    std::uint64_t size = message_.size;
    // RFC 1870 §6.1: do not send what the server announced it would refuse.
    if (server_size_limit_ != 0 && size > server_size_limit_) {
        settle_open(RelayOutcome::permanent,
                    "552 5.3.4 message size " + std::to_string(size) +
                        " exceeds the limit the server announced (" +
                        std::to_string(server_size_limit_) + ")");
        quit();
        return;
    }
    std::string line = "MAIL FROM:<" + message_.sender + ">";
    if (server_size_) line += " SIZE=" + std::to_string(size);  // RFC 1870 §6
    if (server_8bitmime_ && message_.eight_bit) line += " BODY=8BITMIME";  // RFC 6152 §3
    phase_ = Phase::mail;
    send_command(line);
}

void SmtpClient::on_mail(const Reply& reply) {
    if (reply.code / 100 == 2) {
        phase_ = Phase::rcpt;
        next_rcpt_ = 0;
        send_next_rcpt_or_data();
        return;
    }
    // RFC 5321 §4.2.1: 4yz transient, 5yz permanent, for the whole transaction.
    settle_open(reply.code / 100 == 5 ? RelayOutcome::permanent : RelayOutcome::temporary,
                reply.full());
    quit();
}

void SmtpClient::on_rcpt(const Reply& reply) {
    std::size_t i = next_rcpt_ - 1;
    // RFC 5321 §4.1.1.3: 250/251 accept; each recipient has its own fate.
    if (reply.code / 100 == 2) {
        accepted_[i] = true;
        results_[i].reply = reply.full();
    } else {
        results_[i].outcome =
            reply.code / 100 == 5 ? RelayOutcome::permanent : RelayOutcome::temporary;
        results_[i].reply = reply.full();
        settled_[i] = true;
    }
    send_next_rcpt_or_data();
}

void SmtpClient::send_next_rcpt_or_data() {
    if (next_rcpt_ < results_.size()) {
        send_command("RCPT TO:<" + results_[next_rcpt_].address + ">");
        ++next_rcpt_;
        return;
    }
    // RFC 5321 §3.3: DATA only with at least one accepted recipient.
    if (std::find(accepted_.begin(), accepted_.end(), true) == accepted_.end()) {
        quit();
        return;
    }
    phase_ = Phase::data;
    send_command("DATA");
}

void SmtpClient::on_data(const Reply& reply) {
    if (reply.code == 354) {  // RFC 5321 §4.1.1.4: 354, then the text
        phase_ = Phase::body;
        send_body();
        return;
    }
    settle_open(reply.code / 100 == 5 ? RelayOutcome::permanent : RelayOutcome::temporary,
                reply.full());
    quit();
}

void SmtpClient::on_end_of_data(const Reply& reply) {
    // RFC 5321 §6.1: a 250 here hands responsibility to the server.
    RelayOutcome outcome = reply.code / 100 == 2   ? RelayOutcome::delivered
                           : reply.code / 100 == 5 ? RelayOutcome::permanent
                                                   : RelayOutcome::temporary;
    settle_open(outcome, reply.full());
    quit();
}

// RFC 5321 §4.5.2: the text, dot-stuffed, then CRLF "." CRLF. It is read
// from the queue piece by piece, each piece asked for once the connection
// has room for it, so a message of any size costs about one piece here.
void SmtpClient::send_body() {
    if (body_.text.room_for_next(transport_)) request_piece();
}

void SmtpClient::request_piece() {
    body_.reading = true;
    store_.submit(ReadQueued{message_.queue_name, body_.text.offset(), PieceStream::piece_size(transport_)});
}

void SmtpClient::on_writable() {
    if (closed_ || !body_.text.take_room()) return;
    request_piece();
}

void SmtpClient::on_store_reply(StoreReply reply) {
    auto* text = std::get_if<QueuedText>(&reply);
    if (text == nullptr || !body_.reading) return;
    body_.reading = false;
    if (closed_) return;  // cut while the piece was read
    on_queued_text(*text);
}

void SmtpClient::on_queued_text(const QueuedText& text) {
    // Part of the text may be out already: ending it with the final dot
    // would have the server accept a truncated message. The connection is
    // cut instead (no dot), so the server drops the transaction, and every
    // open recipient is a temporary failure: the delivery is tried again.
    if (text.outcome != Outcome::ok || (!text.end && text.text.empty())) {
        abort("4.3.0 cannot read the queued message");
        return;
    }
    body_.text.send(text.text, transport_);
    if (text.end) return end_body();
    send_body();
}

void SmtpClient::end_body() {
    body_.text.finish(transport_);
    body_.sent = true;
    observer_.on_command("<message text, " + std::to_string(body_.text.offset()) + " octets>");
    process_input();  // a reply already read waited for the dot
}

// ---- outcomes ---------------------------------------------------------------

void SmtpClient::send_command(const std::string& line) {
    observer_.on_command(line);
    transport_.send(line + "\r\n");
}

void SmtpClient::settle_open(RelayOutcome outcome, const std::string& reason) {
    for (std::size_t i = 0; i < results_.size(); ++i) {
        if (settled_[i]) continue;
        // A recipient never sent in RCPT (or refused by a session-level
        // reply) gets the session's reason; an accepted one the final reply.
        results_[i].outcome = outcome;
        results_[i].reply = reason;
        settled_[i] = true;
    }
}

void SmtpClient::report() {
    if (reported_) return;
    reported_ = true;
    report_.on_relay_result(results_);
}

// RFC 5321 §3.8 / §4.1.1.10: the client always ends with QUIT.
void SmtpClient::quit() {
    report();
    phase_ = Phase::quit;
    send_command("QUIT");
}

// The session cannot go on: every open recipient is temporary, and the
// connection is closed without QUIT (there may be no one to read it).
void SmtpClient::abort(const std::string& reason) {
    if (closed_) return;
    settle_open(RelayOutcome::temporary, reason);
    report();
    phase_ = Phase::done;
    closed_ = true;
    transport_.close();
}

}  // namespace bm::apps
