// The SMTP load machine (RFC 5321 client side): greeting, EHLO, then per
// message MAIL, RCPT, DATA, the text and the final dot, then QUIT.
//
// With --pipelining and a server that offers it (RFC 2920 §3.1), MAIL,
// RCPT and DATA leave in one write and their replies are read in order.
// A refused command fails its message (counted by code) and the session
// goes on after RSET; a reply it cannot follow, a 421, a timeout or the
// server closing end the session. Latency: final dot sent -> its reply.
#pragma once

#include <cstdint>
#include <string>

#include "harness/mailgun/load_session.hpp"
#include "harness/mailgun/reply_reader.hpp"

namespace bm::mailgun {

class SmtpLoadSession final : public LoadSession {
public:
    SmtpLoadSession(LoadPlan& plan, std::uint32_t reserved, apps::Transport& transport, const Clock& clock);

    void start() override {}  // RFC 5321 §3.1: the server speaks first
    std::size_t on_bytes(std::string_view bytes) override;

private:
    // Which reply we wait for.
    enum class Phase { greeting, ehlo, mail, rcpt, data, end_of_data, rset, quit };

    void on_reply(const SmtpReply& reply);
    // True for a reply of the class wanted; otherwise counts it (refusal
    // by code, or unexpected) and returns false.
    bool accepted(const SmtpReply& reply, int wanted_class);
    void on_ehlo(const SmtpReply& reply);
    void on_mail_or_rcpt(const SmtpReply& reply);
    void on_data(const SmtpReply& reply);
    void on_end_of_data(const SmtpReply& reply);
    void next_message_or_quit();
    void send_transaction();
    void send(const std::string& line);

    SmtpReplyReader reader_;
    Phase phase_ = Phase::greeting;
    bool pipelining_ = false;      // asked for and offered
    bool message_refused_ = false;  // some command of this transaction was refused
    std::string recipient_;
    std::uint64_t dot_sent_ns_ = 0;
};

}  // namespace bm::mailgun
