// One captured connection replayed live: each step's octets are sent once
// the replies the capture shows before it have come (closed loop), and
// each live reply's class is compared with the capture's. A turn's latency
// runs from its octets sent to the last reply it waited for.
#pragma once

#include <string>

#include "harness/mailgun/reply_reader.hpp"
#include "harness/mailgun/replay_script.hpp"
#include "harness/mailgun/scenario.hpp"

namespace bm::mailgun {

class ReplaySession final : public ClientSession {
public:
    ReplaySession(const ReplaySessionScript& script, apps::Transport& transport, const Clock& clock, Tally& tally);

    void start() override { begin_steps(); }
    std::size_t on_bytes(std::string_view bytes) override;
    void on_idle_timeout() override;
    void on_shutdown() override { fail(ErrorKind::unfinished, true); }
    void on_peer_closed() override { fail(ErrorKind::server_closed, false); }
    bool ended() const override { return ended_; }

private:
    void on_reply(const std::string& reply_class, const std::string& first_line);
    // Sends steps until one waits for replies, or ends the session.
    void begin_steps();
    void send(const std::string& bytes);
    void fail(ErrorKind kind, bool close);
    void end(bool ok, bool close);
    std::string command_of(const ReplayStep& step) const;

    const ReplaySessionScript& script_;
    apps::Transport& transport_;
    const Clock& clock_;
    Tally& tally_;
    SmtpReplyReader smtp_;
    Pop3ResponseReader pop3_;
    std::string unsent_line_;  // POP3: a command line not yet complete in what was sent
    std::size_t step_ = 0;
    std::size_t replied_ = 0;   // replies of the current step received
    std::uint64_t reply_count_ = 0;  // replies of the whole session
    std::uint64_t sent_ns_ = 0;
    std::size_t turns_done_ = 0;
    bool ended_ = false;
};

}  // namespace bm::mailgun
