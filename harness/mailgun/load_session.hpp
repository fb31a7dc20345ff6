// What the SMTP and POP3 load machines share: the session's reserved
// messages, and the one place a session's outcome is counted, whichever
// way it ends (its last reply, a refusal, a timeout, the server closing,
// the run's time limit).
//
// Why not apps::SmtpClient: it is the relay client, one message per
// connection whose text it streams from the queue file through the store
// port, one command at a time. A load generator sends many messages per
// connection, pipelines (RFC 2920) when asked, holds one generated text in
// memory and times each message; the machines here do that and share the
// reply framing (reply_reader) with the replay.
#pragma once

#include <cstdint>
#include <string_view>

#include "harness/mailgun/load_plan.hpp"
#include "harness/mailgun/scenario.hpp"

namespace bm::mailgun {

class LoadSession : public ClientSession {
public:
    void on_idle_timeout() override;
    void on_shutdown() override { fail(ErrorKind::unfinished); }
    void on_peer_closed() override;
    bool ended() const override { return ended_; }

protected:
    LoadSession(LoadPlan& plan, std::uint32_t reserved, apps::Transport& transport, const Clock& clock);

    // Starts the next reserved message if there is one and the run goes on.
    bool begin_message();
    void message_done(bool ok, std::uint64_t latency_ns);
    // The session's last reply came: counts it. After QUIT's reply the
    // server closes (RFC 5321 §4.1.1.10, RFC 1939 §6), so its side keeps
    // TIME-WAIT, not our ephemeral ports; otherwise we close now.
    void finish(bool ok);
    void finish_after_quit(bool ok) { end(ok, false); }
    // The session cannot go on: the message under way failed, and `kind`.
    void fail(ErrorKind kind);
    // A refusal by code ("550", "-ERR [IN-USE]"): the session goes on.
    void refused(std::string_view code) { plan_.tally().rejected(code); }

    std::uint64_t now() const { return clock_.now_ns(); }

    LoadPlan& plan_;
    apps::Transport& transport_;
    const Clock& clock_;

private:
    void end(bool ok, bool close);

    std::uint32_t reserved_;
    std::uint32_t begun_ = 0;
    bool in_message_ = false;
    bool ended_ = false;
};

}  // namespace bm::mailgun
