// The SMTP sender (RFC 5321 client side) as a sans-I/O session: the relay
// client's half of one connection to a next-hop server.
//
// Read first: RFC 5321 §3.3 (the mail transaction from the client's side),
// §4.2 (reply format, multi-line replies), §4.1.1.1 (EHLO, fall back to
// HELO), §4.5.2 (dot-stuffing), §4.5.3.2 (timeouts), §3.8 (QUIT), §6.1
// (a recipient is done for us only after 250 to the final dot), RFC 1870
// (SIZE) and RFC 6152 (8BITMIME).
//
// Like the server, the machine is driven by replies: one phase enum, one
// command outstanding at a time (no PIPELINING, so every RCPT gets its own
// reply). Its only output besides bytes is exactly one RelayReport call
// with each recipient's outcome; the driver learns the connection is over
// through Transport::close as usual.
//
// The message text is never held whole: after the 354 it is asked for
// piece by piece from the queue file through the MailPort (ReadQueued),
// each piece dot-stuffed and sent while the transport has room, the next
// asked for once it drains (on_writable), as POP3 RETR streams.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "apps/line_reader.hpp"
#include "apps/piece_stream.hpp"
#include "apps/session.hpp"

namespace bm::apps {

struct SmtpClientConfig {
    std::string hostname = "localhost";  // our EHLO argument
    // RFC 5321 §4.5.3.2 suggests minutes per reply; the driver enforces it
    // as the connection's idle timeout and then calls on_idle_timeout.
    std::chrono::seconds reply_timeout{300};
};

// One message for some recipients of one next hop. Only its envelope and
// what MAIL FROM must say about the text; the text stays in the queue file.
struct OutboundMessage {
    std::string sender;                  // reverse-path without <>; empty = null sender
    std::vector<std::string> recipients; // forward-paths without <>
    std::string queue_name;              // the queue file whose text DATA sends (ReadQueued)
    std::uint64_t size = 0;              // octets of the text (RFC 1870 SIZE)
    bool eight_bit = false;              // the text has octets > 127 (RFC 6152)
};

enum class RelayOutcome {
    delivered,  // 250 to the final dot (RFC 5321 §6.1: now the next hop's)
    temporary,  // 4yz, connection lost, timeout: try again later
    permanent,  // 5yz: give up and bounce
};

struct RecipientResult {
    std::string address;
    RelayOutcome outcome = RelayOutcome::temporary;
    std::string reply;  // the server's reply (or our reason) for logs and the DSN
};

class RelayReport {
public:
    // Called once per session, with one result per recipient in order.
    virtual void on_relay_result(const std::vector<RecipientResult>& results) = 0;

protected:
    ~RelayReport() = default;
};

class SmtpClient final : public Session {
public:
    SmtpClient(const SmtpClientConfig& config, OutboundMessage message, Transport& transport,
               MailPort& store, Observer& observer, RelayReport& report);

    // The server speaks first (RFC 5321 §3.1): nothing to send.
    void start() override {}
    std::size_t on_bytes(std::string_view bytes) override;
    void on_store_reply(StoreReply reply) override;
    void on_writable() override;
    // No reply in time: every open recipient is temporary (§4.5.3.2).
    void on_idle_timeout() override;
    // Server stopping: the session is cut; open recipients stay temporary.
    void on_shutdown() override;
    void on_peer_closed() override;
    // A piece being read is no reason to outlive the peer: a connection
    // lost before the final dot is a temporary failure either way.
    bool waiting() const override { return false; }

    // The connection could not be opened (refused, unreachable).
    void on_connect_failed(std::string_view reason);
    bool reported() const { return reported_; }

private:
    // Which reply we wait for (RFC 5321 §4.3.2 sequencing).
    enum class Phase { greeting, ehlo, helo, mail, rcpt, data, body, quit, done };

    struct Reply {
        int code = 0;
        std::string text;   // lines joined by " / ", without codes
        std::vector<std::string> lines;
        std::string full() const { return std::to_string(code) + " " + text; }
    };

    // RFC 5321 §4.1.1.4: the server replies only after the final dot, so
    // input waits until the dot is out (a server giving up sooner closes
    // the connection, and the session ends as lost).
    bool sending_text() const { return phase_ == Phase::body && !body_.sent; }
    void process_input();
    bool take_reply_line(std::string_view line);  // true once a whole reply is in
    void on_reply(const Reply& reply);
    void on_greeting(const Reply& reply);
    void on_ehlo(const Reply& reply);
    void on_helo(const Reply& reply);
    void on_mail(const Reply& reply);
    void on_rcpt(const Reply& reply);
    void on_data(const Reply& reply);
    void on_end_of_data(const Reply& reply);

    void send_ehlo_capabilities(const Reply& reply);
    void send_mail_from();
    void send_next_rcpt_or_data();
    void send_body();
    void request_piece();
    void on_queued_text(const QueuedText& text);
    void end_body();
    void send_command(const std::string& line);
    void quit();
    // Every recipient still without an outcome gets this one.
    void settle_open(RelayOutcome outcome, const std::string& reason);
    void report();
    void abort(const std::string& reason);

    const SmtpClientConfig config_;
    OutboundMessage message_;
    Transport& transport_;
    MailPort& store_;
    Observer& observer_;
    RelayReport& report_;

    LineReader reader_;
    Phase phase_ = Phase::greeting;
    Reply reply_;            // being assembled from 250- lines
    bool in_reply_ = false;
    std::uint64_t server_size_limit_ = 0;  // RFC 1870: 0 = none announced
    bool server_size_ = false;
    bool server_8bitmime_ = false;
    std::size_t next_rcpt_ = 0;
    std::vector<RecipientResult> results_;
    std::vector<bool> settled_;   // outcome final for results_[i]
    std::vector<bool> accepted_;  // RCPT got 2yz, waiting for the end of DATA
    bool reported_ = false;
    bool closed_ = false;

    // DATA in progress: how far the text has been sent, and what it waits for.
    struct Body {
        PieceStream text;      // pacing, dot-stuffing and offset across pieces
        bool reading = false;  // a ReadQueued is out
        bool sent = false;     // the final dot is out
    };
    Body body_;
};

}  // namespace bm::apps
