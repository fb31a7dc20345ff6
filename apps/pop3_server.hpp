// The POP3 server session. Read RFC 1939 first (§3 states, §5-§7 commands),
// then RFC 2449 (CAPA, response codes) and RFC 3206 ([AUTH], [SYS/TEMP]).
//
// A session moves AUTHORIZATION -> TRANSACTION -> UPDATE (RFC 1939 §3);
// deletions are only marks until QUIT in TRANSACTION commits them. Like every
// protocol machine here it is sans-I/O: bytes come in through on_bytes, disk
// work goes out through the MailPort, and while a store request or the login
// slow-down is pending no further command is run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apps/config.hpp"
#include "apps/line_reader.hpp"
#include "apps/login_penalty.hpp"
#include "apps/mail_port.hpp"
#include "apps/piece_stream.hpp"
#include "apps/session.hpp"

namespace bm::apps {

class Pop3Server final : public Session {
public:
    Pop3Server(const Pop3Config& config, const Peer& peer, Transport& transport,
               MailPort& port, Observer& observer);

    void start() override;
    std::size_t on_bytes(std::string_view bytes) override;
    void on_store_reply(StoreReply reply) override;
    void on_wakeup() override;
    void on_writable() override;
    void on_idle_timeout() override;
    void on_shutdown() override;
    void on_peer_closed() override;
    bool waiting() const override;

    // The "<...@host>" of the greeting that APOP digests cover (RFC 1939 §7).
    const std::string& apop_timestamp() const { return timestamp_; }

private:
    // RFC 1939 §3. `ended`: closed by either side, no more input or output.
    enum class State { authorization, transaction, update, ended };
    // Where a command is valid; `any` for CAPA and QUIT.
    enum class Phase { authorization, transaction, any };
    struct Arguments;
    struct Command;
    // A check returns the -ERR line that refuses the command, or nothing.
    using Verdict = std::optional<std::string_view>;

    // ---- input
    bool accepting_commands() const;
    void run_buffered_commands();
    void run_line(std::string_view line);
    static const Command* find_command(std::string_view verb);
    std::optional<std::string_view> wrong_state(const Command& command) const;
    void resume();

    // ---- checking (RFC 1939 argument rules); no side effects
    Verdict check_no_arguments(Arguments& args) const;
    Verdict check_user(Arguments& args) const;
    Verdict check_pass(Arguments& args) const;
    Verdict check_apop(Arguments& args) const;
    Verdict check_message(Arguments& args) const;
    Verdict check_optional_message(Arguments& args) const;
    Verdict check_top(Arguments& args) const;
    Verdict check_message_number(std::string_view word, Arguments& args) const;

    // ---- doing
    void do_capa(const Arguments& args);
    void do_user(const Arguments& args);
    void do_pass(const Arguments& args);
    void do_apop(const Arguments& args);
    void do_quit(const Arguments& args);
    void do_stat(const Arguments& args);
    void do_list(const Arguments& args);
    void do_uidl(const Arguments& args);
    void do_retr(const Arguments& args);
    void do_top(const Arguments& args);
    void do_dele(const Arguments& args);
    void do_rset(const Arguments& args);
    void do_noop(const Arguments& args);
    void open_maildrop(OpenMaildrop request);
    void read_message(std::uint32_t index, std::int32_t top_lines);
    void request_piece();

    // ---- store replies
    void on_maildrop_opened(MaildropOpened opened);
    void logged_in(MaildropOpened opened);
    void answer_login(std::string_view line);
    void login_failed(std::string_view line);
    void hold_login_answer();
    void count_login(Outcome outcome);
    LoginPenalty& penalty();
    void on_message_text(const MessageText& text);
    void end_stream();
    void stream_failed(Outcome outcome);
    void stream_cut(std::string_view event, std::string_view detail);
    void on_maildrop_closed(const MaildropClosed& closed);

    // ---- output and ending
    void reply(std::string_view line);
    void reply_lines(const std::vector<std::string>& lines);
    void end_session(std::string_view last_line);
    void finish();
    void release_maildrop();
    void submit(StoreRequest request);
    std::uint32_t messages_left() const;
    std::uint64_t octets_left() const;

    const Pop3Config& config_;  // the driver's, shared by every session
    Transport& transport_;
    MailPort& port_;
    Observer& observer_;
    LineReader reader_{1000};
    std::string timestamp_;
    State state_ = State::authorization;

    std::string user_;         // named by USER; PASS must come next (RFC 1939 §7)
    std::string login_user_;   // whose OpenMaildrop is in flight or logged in
    std::string peer_ip_;      // whose failed logins the penalty counts
    bool holding_ = false;     // the login's answer may not go before on_wakeup
    bool delaying_ = false;    // a login's answer in, held until on_wakeup
    std::string delayed_reply_;
    // Without a shared tracker (Pop3Config::login_penalty) failures count
    // for this connection only (made on the first login: servers have one).
    std::unique_ptr<LoginPenalty> own_penalty_;
    std::optional<std::string> last_words_;  // shutdown/idle line held for a reply

    std::uint32_t in_flight_ = 0;  // store requests still owed a reply

    // The RETR/TOP being sent, piece by piece; no command runs meanwhile.
    struct Stream {
        bool active = false;
        std::uint32_t index = 0;
        std::int32_t top_lines = -1;
        PieceStream text;  // pacing, dot-stuffing and offset across pieces
    };
    Stream stream_;

    bool maildrop_open_ = false;   // locked by us and not yet closed/committed
    std::uint32_t maildrop_ = 0;
    std::vector<MessageInfo> messages_;
    std::vector<bool> deleted_;
};

}  // namespace bm::apps
