#include "harness/mailgun/load_session.hpp"

namespace bm::mailgun {

LoadSession::LoadSession(LoadPlan& plan, std::uint32_t reserved, apps::Transport& transport, const Clock& clock)
    : plan_(plan), transport_(transport), clock_(clock), reserved_(reserved) {}

bool LoadSession::begin_message() {
    if (begun_ >= reserved_ || !plan_.may_begin_message(now())) return false;
    ++begun_;
    in_message_ = true;
    return true;
}

void LoadSession::message_done(bool ok, std::uint64_t latency_ns) {
    in_message_ = false;
    if (ok) plan_.tally().message_ok(latency_ns);
    else plan_.tally().messages_failed(1);
}

void LoadSession::finish(bool ok) { end(ok, true); }

// Once the session has ended, a timeout only means the server has not
// closed after its last reply: close from our side, nothing to count.
void LoadSession::on_idle_timeout() {
    if (ended_) return transport_.close();
    fail(ErrorKind::timeout);
}

void LoadSession::fail(ErrorKind kind) {
    if (ended_) return;
    plan_.tally().error(kind);
    end(false, true);
}

void LoadSession::on_peer_closed() {
    if (ended_) return;
    plan_.tally().error(ErrorKind::server_closed);
    end(false, false);
}

void LoadSession::end(bool ok, bool close) {
    if (ended_) return;
    ended_ = true;
    if (in_message_) message_done(false, 0);
    plan_.unsent(reserved_ - begun_);
    plan_.tally().session_ended(ok);
    if (close) transport_.close();
}

}  // namespace bm::mailgun
