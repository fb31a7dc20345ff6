#include "harness/mailgun/pop3_load_session.hpp"

#include <charconv>

namespace bm::mailgun {

std::string pop3_error_code(const std::string& line) {
    std::size_t open = line.find('[');
    std::size_t close = line.find(']');
    if (open == 5 && close != std::string::npos) return "-ERR " + line.substr(open, close - open + 1);
    return "-ERR";
}

Pop3LoadSession::Pop3LoadSession(LoadPlan& plan, std::uint32_t reserved, std::uint64_t user_index,
                                 apps::Transport& transport, const Clock& clock)
    : LoadSession(plan, reserved, transport, clock), user_index_(user_index) {
    reader_.expect_greeting();
}

std::size_t Pop3LoadSession::on_bytes(std::string_view bytes) {
    std::size_t taken = 0;
    while (!ended() && taken < bytes.size()) {
        taken += reader_.feed(bytes.substr(taken));
        if (reader_.ready()) on_response(reader_.take());
    }
    return bytes.size();
}

void Pop3LoadSession::refused_by(const Pop3Response& response) {
    if (response.status == Pop3Response::Status::err) refused(pop3_error_code(response.status_line));
    else plan_.tally().error(ErrorKind::unexpected_reply);
}

void Pop3LoadSession::on_response(const Pop3Response& response) {
    using S = Pop3Response::Status;
    if (response.status == S::garbled || response.status == S::continuation)
        return fail(ErrorKind::unexpected_reply);
    bool ok = response.status == S::ok;
    const Workload& w = plan_.workload();
    switch (phase_) {
    case Phase::greeting:
        if (!ok) {
            refused_by(response);
            return finish(false);
        }
        phase_ = Phase::user;
        return send("USER " + w.user.at(user_index_));
    case Phase::user:
    case Phase::pass:
        if (!ok) {
            refused_by(response);
            phase_ = Phase::quit;
            return send("QUIT");
        }
        if (phase_ == Phase::user) {
            phase_ = Phase::pass;
            return send("PASS " + w.password.at(user_index_));
        }
        phase_ = Phase::stat;
        return send("STAT");
    case Phase::stat: return on_stat(response);
    case Phase::retr: {
        std::uint64_t latency = now() - retr_sent_ns_;
        if (!ok) refused_by(response);
        message_done(ok, latency);
        return next_retr_or_quit();
    }
    case Phase::quit:
        // A QUIT after a refused login ends a failed session.
        return finish_after_quit(ok && maildrop_size_ > 0);
    }
}

void Pop3LoadSession::on_stat(const Pop3Response& response) {
    // RFC 1939 §5: "+OK nn mm".
    const std::string& line = response.status_line;
    std::size_t from = line.find_first_of("0123456789");
    if (response.status != Pop3Response::Status::ok || from == std::string::npos) {
        refused_by(response);
        phase_ = Phase::quit;
        return send("QUIT");
    }
    std::from_chars(line.data() + from, line.data() + line.size(), maildrop_size_);
    if (maildrop_size_ == 0) {
        plan_.tally().rejected("+OK 0 (empty maildrop)");
        phase_ = Phase::quit;
        return send("QUIT");
    }
    next_retr_or_quit();
}

void Pop3LoadSession::next_retr_or_quit() {
    if (!begin_message()) {
        phase_ = Phase::quit;
        return send("QUIT");
    }
    phase_ = Phase::retr;
    send("RETR " + std::to_string(retrieved_++ % maildrop_size_ + 1));
    retr_sent_ns_ = now();
}

void Pop3LoadSession::send(const std::string& line) {
    reader_.expect_reply_to(line);
    transport_.send(line + "\r\n");
}

}  // namespace bm::mailgun
