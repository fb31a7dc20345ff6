#include "harness/mailgun/replay_session.hpp"

namespace bm::mailgun {

namespace {
constexpr std::size_t max_reported_line = 200;
}

ReplaySession::ReplaySession(const ReplaySessionScript& script, apps::Transport& transport, const Clock& clock,
                             Tally& tally)
    : script_(script), transport_(transport), clock_(clock), tally_(tally) {
    pop3_.expect_greeting();
}

std::size_t ReplaySession::on_bytes(std::string_view bytes) {
    std::size_t taken = 0;
    while (!ended_ && taken < bytes.size()) {
        if (script_.protocol == Protocol::smtp) {
            taken += smtp_.feed(bytes.substr(taken));
            if (smtp_.ready()) {
                SmtpReply r = smtp_.take();
                on_reply(reply_class(r), r.first_line());
            }
        } else {
            taken += pop3_.feed(bytes.substr(taken));
            if (pop3_.ready()) {
                Pop3Response r = pop3_.take();
                on_reply(reply_class(r), r.status_line);
            }
        }
    }
    return bytes.size();
}

void ReplaySession::on_reply(const std::string& live_class, const std::string& first_line) {
    if (step_ >= script_.steps.size()) return;  // more than the capture had: not waited for
    const ReplayStep& step = script_.steps[step_];
    if (replied_ >= step.expect.size()) return;
    const std::string& expected = step.expect[replied_];
    ++tally_.replies_compared;
    if (live_class != expected)
        tally_.mismatch({script_.index, reply_count_, command_of(step), expected,
                         first_line.substr(0, max_reported_line)});
    ++reply_count_;
    if (++replied_ < step.expect.size()) return;
    if (!step.send.empty()) {
        tally_.message_ok(clock_.now_ns() - sent_ns_);
        ++turns_done_;
    }
    ++step_;
    begin_steps();
}

void ReplaySession::begin_steps() {
    while (step_ < script_.steps.size()) {
        const ReplayStep& step = script_.steps[step_];
        replied_ = 0;
        if (!step.send.empty()) {
            send(step.send);
            sent_ns_ = clock_.now_ns();
        }
        if (!step.expect.empty()) return;
        ++step_;
    }
    // Every reply is in: the server closes after its last one (221, +OK
    // to QUIT); a session that did not end so is closed on the timeout.
    end(true, false);
}

void ReplaySession::on_idle_timeout() {
    if (ended_) return transport_.close();
    fail(ErrorKind::timeout, true);
}

void ReplaySession::send(const std::string& bytes) {
    transport_.send(bytes);
    if (script_.protocol != Protocol::pop3) return;
    // POP3 responses are framed by the commands they answer.
    unsent_line_ += bytes;
    std::size_t from = 0;
    for (std::size_t lf; (lf = unsent_line_.find('\n', from)) != std::string::npos; from = lf + 1) {
        std::string_view line = std::string_view(unsent_line_).substr(from, lf - from);
        if (line.ends_with('\r')) line.remove_suffix(1);
        pop3_.expect_reply_to(line);
    }
    unsent_line_.erase(0, from);
}

std::string ReplaySession::command_of(const ReplayStep& step) const {
    if (step.send.empty()) return "(greeting)";
    std::string line = step.send.substr(0, step.send.find('\n'));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line.substr(0, max_reported_line);
}

void ReplaySession::fail(ErrorKind kind, bool close) {
    if (ended_) return;
    tally_.error(kind);
    end(false, close);
}

void ReplaySession::end(bool ok, bool close) {
    if (ended_) return;
    ended_ = true;
    // Turns that never got their replies failed.
    std::size_t turns = script_.turns();
    tally_.messages_failed(turns > turns_done_ ? turns - turns_done_ : 0);
    tally_.session_ended(ok);
    if (close) transport_.close();
}

}  // namespace bm::mailgun
