// Framing of what a mail server sends, byte-exact: each reader takes bytes
// until one whole reply is in and stops there, so the caller knows where in
// the stream every reply ends (the replay splits captures with this, and
// times replies live with the same code).
//
// SMTP replies frame themselves (RFC 5321 §4.2: "250-" continues, "250 "
// ends). POP3 responses do not: whether a +OK is followed by a multi-line
// body depends on the command (RFC 1939 §3: RETR, TOP, LIST and UIDL
// without argument; RFC 2449 CAPA), so the POP3 reader is told each
// command sent, in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace bm::mailgun {

// One line, however it arrives: feed stops right after its LF.
class LineCutter {
public:
    std::size_t feed(std::string_view bytes);
    bool complete() const { return complete_; }
    std::string_view line() const;  // without CR LF; at most max_kept octets
    void clear();

    static constexpr std::size_t max_kept = 2048;  // RFC 5321 §4.5.3.1.5: 512; be lenient

private:
    std::string line_;
    bool complete_ = false;
};

struct SmtpReply {
    int code = 0;  // 0: garbled (no RFC 5321 reply code, or codes differ between lines)
    std::vector<std::string> lines;  // at most max_lines, without CRLF
    std::string first_line() const { return lines.empty() ? std::string() : lines.front(); }
};

class SmtpReplyReader {
public:
    // Takes bytes until a reply is complete; returns how many it took.
    std::size_t feed(std::string_view bytes);
    bool ready() const { return ready_; }
    SmtpReply take();  // the complete reply; the reader starts on the next

    static constexpr std::size_t max_lines = 100;

private:
    void on_line(std::string_view line);

    LineCutter cutter_;
    SmtpReply reply_;
    bool ready_ = false;
};

struct Pop3Response {
    enum class Status { ok, err, continuation, garbled };  // +OK, -ERR, "+ " (SASL), other
    Status status = Status::garbled;
    std::string status_line;
    std::uint64_t body_octets = 0;  // of a multi-line body, terminator included
};

class Pop3ResponseReader {
public:
    // What comes next, in order: the greeting, then one response per command.
    void expect_greeting() { expected_.push_back(false); }
    void expect_reply_to(std::string_view command_line);
    std::size_t feed(std::string_view bytes);
    bool ready() const { return ready_; }
    Pop3Response take();
    std::size_t expected() const { return expected_.size(); }

private:
    std::size_t scan_body(std::string_view bytes);  // up to and including the ".CRLF" line
    void on_status_line(std::string_view line);

    LineCutter cutter_;
    std::deque<bool> expected_;  // per response: multi-line if +OK
    Pop3Response response_;
    bool in_body_ = false;
    bool line_start_ = true;
    int dot_prefix_ = 0;  // the line so far is "." (1) or ".\r" (2)
    bool ready_ = false;
};

// RFC 1939 §3 / RFC 2449: the commands whose +OK carries a multi-line body.
bool pop3_multiline(std::string_view command_line);

// The class a reply is compared by in a replay: "2xx".."5xx", "+OK", "-ERR",
// "+" (SASL continuation) or "garbled".
std::string reply_class(const SmtpReply& reply);
std::string reply_class(const Pop3Response& response);

}  // namespace bm::mailgun
