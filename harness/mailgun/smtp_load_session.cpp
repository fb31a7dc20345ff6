#include "harness/mailgun/smtp_load_session.hpp"

#include <algorithm>

namespace bm::mailgun {

namespace {

bool offers_pipelining(const SmtpReply& ehlo) {
    // RFC 5321 §4.1.1.1: every line after the first is a keyword and params.
    for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
        if (ehlo.lines[i].size() < 5) continue;
        std::string keyword = ehlo.lines[i].substr(4, ehlo.lines[i].find(' ', 4) - 4);
        std::transform(keyword.begin(), keyword.end(), keyword.begin(), [](unsigned char c) { return std::toupper(c); });
        if (keyword == "PIPELINING") return true;
    }
    return false;
}

}  // namespace

SmtpLoadSession::SmtpLoadSession(LoadPlan& plan, std::uint32_t reserved, apps::Transport& transport,
                                 const Clock& clock)
    : LoadSession(plan, reserved, transport, clock) {}

std::size_t SmtpLoadSession::on_bytes(std::string_view bytes) {
    std::size_t taken = 0;
    while (!ended() && taken < bytes.size()) {
        taken += reader_.feed(bytes.substr(taken));
        if (reader_.ready()) on_reply(reader_.take());
    }
    return bytes.size();  // after the end nothing matters
}

bool SmtpLoadSession::accepted(const SmtpReply& reply, int wanted_class) {
    if (reply.code / 100 == wanted_class) return true;
    if (reply.code >= 400) refused(std::to_string(reply.code));
    else plan_.tally().error(ErrorKind::unexpected_reply);
    return false;
}

void SmtpLoadSession::on_reply(const SmtpReply& reply) {
    // A garbled reply leaves nothing to follow; 421 is the server closing
    // the channel (RFC 5321 §3.8).
    if (reply.code == 0) return fail(ErrorKind::unexpected_reply);
    if (reply.code == 421) {
        refused("421");
        return fail(ErrorKind::server_closed);
    }
    switch (phase_) {
    case Phase::greeting:
        if (!accepted(reply, 2)) return finish(false);
        phase_ = Phase::ehlo;
        return send("EHLO " + plan_.workload().helo);
    case Phase::ehlo: return on_ehlo(reply);
    case Phase::mail:
    case Phase::rcpt: return on_mail_or_rcpt(reply);
    case Phase::data: return on_data(reply);
    case Phase::end_of_data: return on_end_of_data(reply);
    case Phase::rset:
        if (!accepted(reply, 2)) return finish(false);
        return next_message_or_quit();
    case Phase::quit: return finish_after_quit(accepted(reply, 2));
    }
}

void SmtpLoadSession::on_ehlo(const SmtpReply& reply) {
    if (!accepted(reply, 2)) return finish(false);
    pipelining_ = plan_.workload().pipelining && offers_pipelining(reply);
    next_message_or_quit();
}

void SmtpLoadSession::on_mail_or_rcpt(const SmtpReply& reply) {
    bool rcpt = phase_ == Phase::rcpt;
    if (!accepted(reply, 2)) message_refused_ = true;
    phase_ = rcpt ? Phase::data : Phase::rcpt;
    if (pipelining_) return;  // the next command is out already
    if (message_refused_) {
        message_done(false, 0);
        phase_ = Phase::rset;
        return send("RSET");
    }
    send(rcpt ? std::string("DATA") : "RCPT TO:<" + recipient_ + ">");
}

void SmtpLoadSession::on_data(const SmtpReply& reply) {
    if (reply.code / 100 != 3) {
        if (reply.code / 100 == 2) {
            // 2yz to DATA: the server takes no text; nothing left to follow.
            return fail(ErrorKind::unexpected_reply);
        }
        refused(std::to_string(reply.code));
        message_done(false, 0);
        phase_ = Phase::rset;
        return send("RSET");
    }
    // The text was made without lines beginning with "." (no stuffing).
    transport_.send(plan_.text());
    transport_.send(".\r\n");
    dot_sent_ns_ = now();
    phase_ = Phase::end_of_data;
}

void SmtpLoadSession::on_end_of_data(const SmtpReply& reply) {
    std::uint64_t latency = now() - dot_sent_ns_;
    bool ok = accepted(reply, 2) && !message_refused_;
    message_done(ok, latency);
    next_message_or_quit();
}

void SmtpLoadSession::next_message_or_quit() {
    if (!begin_message()) {
        phase_ = Phase::quit;
        return send("QUIT");
    }
    message_refused_ = false;
    recipient_ = plan_.recipient();
    send_transaction();
}

void SmtpLoadSession::send_transaction() {
    std::string mail = "MAIL FROM:<" + plan_.workload().sender + ">\r\n";
    phase_ = Phase::mail;
    if (!pipelining_) return transport_.send(mail);
    // RFC 2920 §3.1: DATA ends the group; its reply is awaited before the text.
    transport_.send(mail + "RCPT TO:<" + recipient_ + ">\r\nDATA\r\n");
}

void SmtpLoadSession::send(const std::string& line) {
    transport_.send(line);
    transport_.send("\r\n");
}

}  // namespace bm::mailgun
