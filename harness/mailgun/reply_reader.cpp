#include "harness/mailgun/reply_reader.hpp"

#include <algorithm>
#include <cstring>

namespace bm::mailgun {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39, then SP, "-" or the end.
int reply_code(std::string_view line) {
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
        !is_digit(line[2]))
        return 0;
    if (line.size() > 3 && line[3] != ' ' && line[3] != '-') return 0;
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

bool istarts_with(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (c != prefix[i]) return false;
    }
    return true;
}

}  // namespace

// ---- LineCutter ---------------------------------------------------------

std::size_t LineCutter::feed(std::string_view bytes) {
    if (complete_) return 0;
    std::size_t lf = bytes.find('\n');
    std::size_t take = lf == std::string_view::npos ? bytes.size() : lf + 1;
    std::size_t keep = std::min(take, max_kept + 2 > line_.size() ? max_kept + 2 - line_.size() : 0);
    line_.append(bytes.data(), keep);
    complete_ = lf != std::string_view::npos;
    return take;
}

std::string_view LineCutter::line() const {
    std::string_view s(line_);
    if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    return s.substr(0, std::min(s.size(), max_kept));
}

void LineCutter::clear() {
    line_.clear();
    complete_ = false;
}

// ---- SMTP ---------------------------------------------------------------

std::size_t SmtpReplyReader::feed(std::string_view bytes) {
    std::size_t taken = 0;
    while (!ready_ && taken < bytes.size()) {
        taken += cutter_.feed(bytes.substr(taken));
        if (!cutter_.complete()) break;
        on_line(cutter_.line());
        cutter_.clear();
    }
    return taken;
}

void SmtpReplyReader::on_line(std::string_view line) {
    int code = reply_code(line);
    if (reply_.lines.empty()) reply_.code = code;
    else if (code != reply_.code) reply_.code = 0;  // a continuation must repeat the code
    if (reply_.lines.size() < max_lines) reply_.lines.emplace_back(line);
    // A garbled line ends the reply: nothing says more is coming.
    ready_ = code == 0 || line.size() < 4 || line[3] != '-';
}

SmtpReply SmtpReplyReader::take() {
    SmtpReply r = std::move(reply_);
    reply_ = {};
    ready_ = false;
    return r;
}

// ---- POP3 ---------------------------------------------------------------

bool pop3_multiline(std::string_view command) {
    std::size_t space = command.find(' ');
    std::string_view verb = command.substr(0, space);
    bool has_argument = space != std::string_view::npos &&
                        command.find_first_not_of(' ', space) != std::string_view::npos;
    auto is = [&](std::string_view name) { return verb.size() == name.size() && istarts_with(verb, name); };
    if (is("RETR") || is("TOP") || is("CAPA")) return true;
    if (is("LIST") || is("UIDL")) return !has_argument;
    return false;
}

void Pop3ResponseReader::expect_reply_to(std::string_view command_line) {
    expected_.push_back(pop3_multiline(command_line));
}

std::size_t Pop3ResponseReader::feed(std::string_view bytes) {
    std::size_t taken = 0;
    while (!ready_ && taken < bytes.size()) {
        if (in_body_) {
            taken += scan_body(bytes.substr(taken));
            continue;
        }
        taken += cutter_.feed(bytes.substr(taken));
        if (!cutter_.complete()) break;
        on_status_line(cutter_.line());
        cutter_.clear();
    }
    return taken;
}

void Pop3ResponseReader::on_status_line(std::string_view line) {
    using S = Pop3Response::Status;
    if (istarts_with(line, "+OK")) response_.status = S::ok;
    else if (istarts_with(line, "-ERR")) response_.status = S::err;
    else if (line.starts_with("+ ") || line == "+") response_.status = S::continuation;
    else response_.status = S::garbled;
    response_.status_line = std::string(line);
    bool multiline = !expected_.empty() && expected_.front();
    if (!expected_.empty()) expected_.pop_front();
    if (response_.status == S::ok && multiline) {
        in_body_ = true;
        line_start_ = true;
        dot_prefix_ = 0;
    } else {
        ready_ = true;
    }
}

// RFC 1939 §3: the body ends at a line holding only "."; other lines that
// begin with "." were stuffed with one more, so only ".CRLF" at a line
// start ends it. Lines are skipped with memchr, not copied.
std::size_t Pop3ResponseReader::scan_body(std::string_view bytes) {
    const char* data = bytes.data();
    std::size_t n = bytes.size(), i = 0;
    while (i < n) {
        char c = data[i];
        if (dot_prefix_ == 1 && c == '\r') {
            dot_prefix_ = 2;
            ++i;
            continue;
        }
        if (dot_prefix_ > 0 && c == '\n') {
            ++i;
            response_.body_octets += i;
            in_body_ = false;
            ready_ = true;
            return i;
        }
        dot_prefix_ = 0;
        if (line_start_ && c == '.') {
            dot_prefix_ = 1;
            line_start_ = false;
            ++i;
            continue;
        }
        line_start_ = false;
        const void* lf = std::memchr(data + i, '\n', n - i);
        if (!lf) {
            i = n;
            break;
        }
        i = static_cast<std::size_t>(static_cast<const char*>(lf) - data) + 1;
        line_start_ = true;
    }
    response_.body_octets += i;
    return i;
}

Pop3Response Pop3ResponseReader::take() {
    Pop3Response r = std::move(response_);
    response_ = {};
    ready_ = false;
    return r;
}

// ---- classes ------------------------------------------------------------

std::string reply_class(const SmtpReply& reply) {
    if (reply.code == 0) return "garbled";
    return std::string(1, static_cast<char>('0' + reply.code / 100)) + "xx";
}

std::string reply_class(const Pop3Response& response) {
    switch (response.status) {
        case Pop3Response::Status::ok: return "+OK";
        case Pop3Response::Status::err: return "-ERR";
        case Pop3Response::Status::continuation: return "+";
        case Pop3Response::Status::garbled: return "garbled";
    }
    return "garbled";
}

}  // namespace bm::mailgun
