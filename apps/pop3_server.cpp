#include "apps/pop3_server.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <utility>

#include "apps/ipv4_text.hpp"

namespace bm::apps {

namespace {

constexpr std::string_view kCrlf = "\r\n";

std::string upper(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

// RFC 1939 §3: a keyword, then arguments separated by single spaces. The
// rest is kept whole because a PASS password may itself contain spaces.
std::pair<std::string_view, std::string_view> split_verb(std::string_view line) {
    std::size_t space = line.find(' ');
    if (space == std::string_view::npos) return {line, {}};
    return {line.substr(0, space), line.substr(space + 1)};
}

// Runs of spaces are tolerated between arguments, as Dovecot does.
std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find(' ', at);
        if (end == std::string_view::npos) end = text.size();
        if (end > at) words.push_back(text.substr(at, end - at));
        at = end + 1;
    }
    return words;
}

bool all_digits(std::string_view word) {
    return !word.empty() &&
           std::all_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::uint32_t> parse_number(std::string_view word) {
    std::uint32_t value = 0;
    if (!all_digits(word)) return std::nullopt;
    auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
    if (error != std::errc() || end != word.data() + word.size()) return std::nullopt;
    return value;
}

// TOP's line count: any huge count just means "the whole message".
std::optional<std::int32_t> parse_line_count(std::string_view word) {
    if (!all_digits(word)) return std::nullopt;
    constexpr std::int32_t most = std::numeric_limits<std::int32_t>::max();
    std::int32_t value = 0;
    auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
    if (error == std::errc::result_out_of_range) return most;
    if (error != std::errc() || end != word.data() + word.size()) return std::nullopt;
    return value;
}

bool is_md5_hex(std::string_view digest) {
    return digest.size() == 32 && std::all_of(digest.begin(), digest.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) != 0;
           });
}

// The name goes into a line fail2ban parses: keep a client from forging
// fields or line breaks (LineReader lets an inner CR through).
std::string loggable(std::string_view name) {
    std::string out(name);
    for (char& c : out) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x21 || byte > 0x7e || c == '<' || c == '>') c = '?';
    }
    return out;
}

}  // namespace

struct Pop3Server::Arguments {
    std::string_view rest;                // everything after "VERB " (PASS: the password)
    std::vector<std::string_view> words;  // rest split at spaces
    std::string user;                     // from a USER immediately before (for PASS)
    std::uint32_t index = 0;              // 0-based message, once checked
    bool has_index = false;
    std::int32_t lines = 0;               // TOP's count, once checked
};

struct Pop3Server::Command {
    std::string_view verb;
    Phase phase;
    Verdict (Pop3Server::*check)(Arguments&) const;
    void (Pop3Server::*proceed)(const Arguments&);
};

// The whole command set: where each command is valid, how its arguments are
// checked, and what it does once they pass.
const Pop3Server::Command* Pop3Server::find_command(std::string_view verb) {
    using S = Pop3Server;
    static constexpr Command table[] = {
        // RFC 2449 §5: CAPA is valid in every state.
        {"CAPA", Phase::any, &S::check_no_arguments, &S::do_capa},
        {"QUIT", Phase::any, &S::check_no_arguments, &S::do_quit},
        // RFC 1939 §7: optional AUTHORIZATION commands.
        {"USER", Phase::authorization, &S::check_user, &S::do_user},
        {"PASS", Phase::authorization, &S::check_pass, &S::do_pass},
        {"APOP", Phase::authorization, &S::check_apop, &S::do_apop},
        // RFC 1939 §5: TRANSACTION commands, §7: TOP and UIDL.
        {"STAT", Phase::transaction, &S::check_no_arguments, &S::do_stat},
        {"LIST", Phase::transaction, &S::check_optional_message, &S::do_list},
        {"UIDL", Phase::transaction, &S::check_optional_message, &S::do_uidl},
        {"RETR", Phase::transaction, &S::check_message, &S::do_retr},
        {"TOP", Phase::transaction, &S::check_top, &S::do_top},
        {"DELE", Phase::transaction, &S::check_message, &S::do_dele},
        {"RSET", Phase::transaction, &S::check_no_arguments, &S::do_rset},
        {"NOOP", Phase::transaction, &S::check_no_arguments, &S::do_noop},
    };
    std::string wanted = upper(verb);
    for (const Command& command : table)
        if (command.verb == wanted) return &command;
    return nullptr;
}

Pop3Server::Pop3Server(const Pop3Config& config, const Peer& peer, Transport& transport,
                       MailPort& port, Observer& observer)
    : config_(config), transport_(transport), port_(port), observer_(observer), peer_ip_(format_ipv4(peer.ip)) {
    // RFC 1939 §7: the timestamp must differ for every greeting; the instance
    // tag covers restarts, the connection number this run, the clock both.
    timestamp_ = "<" + config_.instance_tag + "." + std::to_string(peer.connection) + "." +
                 std::to_string(config_.now()) + "@" + config_.hostname + ">";
}

void Pop3Server::start() { reply("+OK baremail POP3 ready " + timestamp_); }

// ---- input ------------------------------------------------------------

std::size_t Pop3Server::on_bytes(std::string_view bytes) {
    if (state_ == State::ended) return bytes.size();  // nobody will read it
    std::size_t taken = 0;
    for (;;) {
        run_buffered_commands();
        if (!accepting_commands() || taken == bytes.size()) break;
        std::size_t fed = reader_.feed(bytes.substr(taken));
        if (fed == 0) break;
        taken += fed;
    }
    return taken;
}

bool Pop3Server::accepting_commands() const {
    return (state_ == State::authorization || state_ == State::transaction) && !waiting();
}

bool Pop3Server::waiting() const { return in_flight_ > 0 || delaying_ || stream_.active; }

void Pop3Server::run_buffered_commands() {
    while (accepting_commands()) {
        std::optional<LineReader::Line> line = reader_.next();
        if (!line) return;
        if (line->kind == LineReader::Kind::too_long) {
            user_.clear();  // it was not the PASS that USER expects
            reply("-ERR Line too long");
            continue;
        }
        run_line(line->text);
    }
}

void Pop3Server::run_line(std::string_view line) {
    auto [verb, rest] = split_verb(line);
    bool is_pass = upper(verb) == "PASS";
    observer_.on_command(is_pass ? std::string_view("PASS ****") : line);

    // RFC 1939 §7: PASS is only valid right after USER, so any other line
    // in between forgets the name.
    Arguments args{rest, split_words(rest), std::exchange(user_, {})};
    const Command* command = find_command(verb);
    if (command == nullptr) return reply("-ERR Unknown command");
    if (auto refusal = wrong_state(*command)) return reply(*refusal);
    if (auto refusal = (this->*command->check)(args)) return reply(*refusal);
    (this->*command->proceed)(args);
}

std::optional<std::string_view> Pop3Server::wrong_state(const Command& command) const {
    if (command.phase == Phase::authorization && state_ != State::authorization)
        return "-ERR Already logged in";
    if (command.phase == Phase::transaction && state_ != State::transaction)
        return "-ERR Not logged in";
    return std::nullopt;
}

// After a store reply or the wake-up: finish a held shutdown/idle close,
// or go on with the commands the client already pipelined.
void Pop3Server::resume() {
    if (state_ == State::ended || waiting()) return;
    if (last_words_) return end_session(*last_words_);
    run_buffered_commands();
}

// ---- checking ---------------------------------------------------------

Pop3Server::Verdict Pop3Server::check_no_arguments(Arguments& args) const {
    if (!args.words.empty()) return "-ERR Too many arguments";
    return std::nullopt;
}

Pop3Server::Verdict Pop3Server::check_user(Arguments& args) const {
    if (args.words.empty()) return "-ERR No username given";
    if (args.words.size() > 1) return "-ERR Invalid username";
    return std::nullopt;
}

Pop3Server::Verdict Pop3Server::check_pass(Arguments& args) const {
    if (args.user.empty()) return "-ERR No username given";
    if (args.rest.empty()) return "-ERR No password given";
    return std::nullopt;
}

Pop3Server::Verdict Pop3Server::check_apop(Arguments& args) const {
    if (args.words.size() != 2) return "-ERR APOP needs a name and a digest";
    if (!is_md5_hex(args.words[1])) return "-ERR Invalid APOP digest";
    return std::nullopt;
}

Pop3Server::Verdict Pop3Server::check_message(Arguments& args) const {
    if (args.words.empty()) return "-ERR Message number required";
    if (args.words.size() > 1) return "-ERR Too many arguments";
    return check_message_number(args.words[0], args);
}

Pop3Server::Verdict Pop3Server::check_optional_message(Arguments& args) const {
    if (args.words.empty()) return std::nullopt;
    if (args.words.size() > 1) return "-ERR Too many arguments";
    return check_message_number(args.words[0], args);
}

Pop3Server::Verdict Pop3Server::check_top(Arguments& args) const {
    if (args.words.size() != 2) return "-ERR TOP needs a message number and a line count";
    if (auto refusal = check_message_number(args.words[0], args)) return refusal;
    std::optional<std::int32_t> lines = parse_line_count(args.words[1]);
    if (!lines) return "-ERR Invalid line count";
    args.lines = *lines;
    return std::nullopt;
}

// RFC 1939 §5: a message number may not refer to a message marked as deleted.
Pop3Server::Verdict Pop3Server::check_message_number(std::string_view word,
                                                     Arguments& args) const {
    std::optional<std::uint32_t> number = parse_number(word);
    if (!number) return "-ERR Invalid message number";
    if (*number == 0 || *number > messages_.size() || deleted_[*number - 1])
        return "-ERR no such message";
    args.index = *number - 1;
    args.has_index = true;
    return std::nullopt;
}

// ---- doing ------------------------------------------------------------

void Pop3Server::do_capa(const Arguments&) {
    // RFC 2449 §6; AUTH-RESP-CODE is RFC 3206 §6. Same list in every state.
    reply_lines({"+OK Capability list follows", "TOP", "USER", "UIDL", "RESP-CODES",
                 "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION baremail"});
}

void Pop3Server::do_user(const Arguments& args) {
    user_ = std::string(args.words[0]);
    reply("+OK");
}

void Pop3Server::do_pass(const Arguments& args) {
    OpenMaildrop request;
    request.user = args.user;
    request.password = std::string(args.rest);
    open_maildrop(std::move(request));
}

void Pop3Server::do_apop(const Arguments& args) {
    OpenMaildrop request;
    request.user = std::string(args.words[0]);
    request.apop_digest = std::string(args.words[1]);
    request.apop_timestamp = timestamp_;
    open_maildrop(std::move(request));
}

void Pop3Server::open_maildrop(OpenMaildrop request) {
    login_user_ = request.user;
    hold_login_answer();
    submit(std::move(request));
}

// Dovecot's auth_penalty: an address with failed logins on record waits
// before any answer to its next one, decided now — before the password is
// checked, so neither a right password nor a hang-up learns anything sooner.
void Pop3Server::hold_login_answer() {
    std::chrono::milliseconds hold = penalty().hold_for(peer_ip_);
    if (hold.count() <= 0) return;
    holding_ = true;
    transport_.wake_after(hold);
    observer_.on_event("auth-delayed", "user=<" + loggable(login_user_) + "> failures=" +
                                           std::to_string(penalty().failures(peer_ip_)) +
                                           " wait=" + std::to_string(hold.count()) + "ms");
}

LoginPenalty& Pop3Server::penalty() {
    if (config_.login_penalty) return *config_.login_penalty;
    if (!own_penalty_) {
        LoginPenaltySettings per_connection;
        per_connection.free_failures = config_.free_login_failures;
        per_connection.first_delay = per_connection.max_delay = per_connection.max_wait =
            std::chrono::milliseconds(config_.login_delay_ms);
        own_penalty_ = std::make_unique<LoginPenalty>(per_connection);
    }
    return *own_penalty_;
}

// A login's outcome, counted per address even when the client has gone.
void Pop3Server::count_login(Outcome outcome) {
    if (outcome == Outcome::ok) penalty().succeeded(peer_ip_);
    else if (outcome == Outcome::auth_failed || outcome == Outcome::not_found) penalty().failed(peer_ip_);
}

void Pop3Server::do_quit(const Arguments&) {
    // RFC 1939 §4: QUIT in AUTHORIZATION ends without entering UPDATE.
    if (state_ == State::authorization) return end_session("+OK Bye");
    // RFC 1939 §6: UPDATE removes the marked messages, then releases.
    std::vector<std::uint32_t> deleted;
    for (std::uint32_t i = 0; i < deleted_.size(); ++i)
        if (deleted_[i]) deleted.push_back(i);
    state_ = State::update;
    maildrop_open_ = false;  // the commit unlocks it too
    submit(CloseMaildrop{maildrop_, std::move(deleted), true});
}

void Pop3Server::do_stat(const Arguments&) {
    reply("+OK " + std::to_string(messages_left()) + " " + std::to_string(octets_left()));
}

void Pop3Server::do_list(const Arguments& args) {
    auto scan_line = [&](std::uint32_t i) {
        return std::to_string(i + 1) + " " + std::to_string(messages_[i].size);
    };
    if (args.has_index) return reply("+OK " + scan_line(args.index));
    std::vector<std::string> lines{"+OK " + std::to_string(messages_left()) + " messages:"};
    for (std::uint32_t i = 0; i < messages_.size(); ++i)
        if (!deleted_[i]) lines.push_back(scan_line(i));
    reply_lines(lines);
}

void Pop3Server::do_uidl(const Arguments& args) {
    auto uid_line = [&](std::uint32_t i) { return std::to_string(i + 1) + " " + messages_[i].uid; };
    if (args.has_index) return reply("+OK " + uid_line(args.index));
    std::vector<std::string> lines{"+OK"};
    for (std::uint32_t i = 0; i < messages_.size(); ++i)
        if (!deleted_[i]) lines.push_back(uid_line(i));
    reply_lines(lines);
}

void Pop3Server::do_retr(const Arguments& args) { read_message(args.index, -1); }

void Pop3Server::do_top(const Arguments& args) { read_message(args.index, args.lines); }

// RETR and TOP stream the message: one piece from the store at a time,
// the next asked for once the connection has room for it (on_writable).
void Pop3Server::read_message(std::uint32_t index, std::int32_t top_lines) {
    stream_ = Stream{};
    stream_.active = true;
    stream_.index = index;
    stream_.top_lines = top_lines;
    request_piece();
}

void Pop3Server::request_piece() {
    submit(ReadMessage{maildrop_, stream_.index, stream_.top_lines, stream_.text.offset(),
                       PieceStream::piece_size(transport_)});
}

void Pop3Server::on_writable() {
    if (!stream_.active || !stream_.text.take_room()) return;
    request_piece();
}

void Pop3Server::do_dele(const Arguments& args) {
    deleted_[args.index] = true;
    reply("+OK message " + std::to_string(args.index + 1) + " deleted");
}

void Pop3Server::do_rset(const Arguments&) {
    std::fill(deleted_.begin(), deleted_.end(), false);
    reply("+OK");
}

void Pop3Server::do_noop(const Arguments&) { reply("+OK"); }

// ---- store replies ----------------------------------------------------

void Pop3Server::on_store_reply(StoreReply reply) {
    if (in_flight_ > 0) --in_flight_;
    if (state_ == State::ended) {
        // The client left while the login was in flight: unlock what it won.
        auto* opened = std::get_if<MaildropOpened>(&reply);
        if (opened) count_login(opened->outcome);
        if (opened && opened->outcome == Outcome::ok)
            submit(CloseMaildrop{opened->maildrop, {}, false});
        return;
    }
    if (auto* opened = std::get_if<MaildropOpened>(&reply))
        on_maildrop_opened(std::move(*opened));
    else if (auto* text = std::get_if<MessageText>(&reply))
        on_message_text(*text);
    else if (auto* closed = std::get_if<MaildropClosed>(&reply))
        on_maildrop_closed(*closed);
    resume();
}

void Pop3Server::on_maildrop_opened(MaildropOpened opened) {
    count_login(opened.outcome);
    switch (opened.outcome) {
        case Outcome::ok:
            return logged_in(std::move(opened));
        // The store reports an unknown user as auth_failed; not_found is
        // treated the same so no reply tells which users exist.
        case Outcome::auth_failed:
        case Outcome::not_found:
            return login_failed("-ERR [AUTH] Authentication failed");  // RFC 3206 §4
        case Outcome::in_use:
            return answer_login("-ERR [IN-USE] Mailbox is locked by another session");  // RFC 2449 §8.1.2
        default:
            return answer_login("-ERR [SYS/TEMP] Mailbox unavailable, try again later");  // RFC 3206 §5
    }
}

void Pop3Server::logged_in(MaildropOpened opened) {
    state_ = State::transaction;
    maildrop_open_ = true;
    maildrop_ = opened.maildrop;
    messages_ = std::move(opened.messages);
    deleted_.assign(messages_.size(), false);
    observer_.on_event("login", "user=<" + loggable(login_user_) + ">");
    answer_login("+OK Logged in, " + std::to_string(messages_left()) + " messages (" +
                 std::to_string(octets_left()) + " octets)");
}

void Pop3Server::login_failed(std::string_view line) {
    observer_.on_event("auth-failed", "user=<" + loggable(login_user_) + ">");
    answer_login(line);
}

// The answer waits for the wake-up hold_login_answer asked for (if it has
// not come yet); the event gives fail2ban something to count.
void Pop3Server::answer_login(std::string_view line) {
    if (!holding_ || last_words_) {
        holding_ = false;
        return reply(line);
    }
    delayed_reply_ = std::string(line);
    delaying_ = true;
}

void Pop3Server::on_wakeup() {
    holding_ = false;
    if (!delaying_ || state_ == State::ended) return;
    delaying_ = false;
    reply(delayed_reply_);
    resume();
}

void Pop3Server::on_message_text(const MessageText& text) {
    if (!stream_.active) return;
    if (text.outcome != Outcome::ok) return stream_failed(text.outcome);
    if (!text.end && text.text.empty()) return stream_failed(Outcome::temp_failure);  // no progress
    // Stopping: a message that ends with this piece is still sent whole,
    // then the shutdown line; a longer one is cut here.
    if (last_words_ && !text.end) return stream_cut("stream-cut", last_words_->substr(5));
    if (stream_.text.offset() == 0) {
        // RFC 1939 §5: RETR names the size; TOP (§7) just says +OK.
        std::string first = stream_.top_lines >= 0
                                ? std::string("+OK")
                                : "+OK " + std::to_string(messages_[stream_.index].size) + " octets";
        reply(first);
    }
    // RFC 1939 §3: the same byte-stuffing as SMTP's (RFC 5321 §4.5.2).
    stream_.text.send(text.text, transport_);
    if (text.end) return end_stream();
    if (stream_.text.room_for_next(transport_)) request_piece();
}

void Pop3Server::end_stream() {
    stream_.text.finish(transport_);
    stream_ = Stream{};
}

// Before the first line the client can still be told; once part of the
// message is out, a -ERR would read as message text, so the connection is
// dropped instead (nothing is deleted without QUIT).
void Pop3Server::stream_failed(Outcome outcome) {
    if (stream_.text.offset() == 0) {
        stream_ = Stream{};
        if (outcome == Outcome::not_found) return reply("-ERR no such message");
        return reply("-ERR [SYS/TEMP] Message could not be read, try again later");
    }
    stream_cut("read-failed", "message " + std::to_string(stream_.index + 1) + " at octet " +
                                  std::to_string(stream_.text.offset()));
}

void Pop3Server::stream_cut(std::string_view event, std::string_view detail) {
    stream_ = Stream{};
    observer_.on_event(event, detail);
    release_maildrop();
    finish();
}

void Pop3Server::on_maildrop_closed(const MaildropClosed& closed) {
    if (state_ != State::update) return;
    // RFC 1939 §6: an UPDATE that could not remove everything answers -ERR.
    if (closed.outcome == Outcome::ok)
        reply("+OK baremail POP3 server signing off (" + std::to_string(messages_left()) +
              " messages left)");
    else
        reply("-ERR [SYS/TEMP] some deleted messages not removed");
    finish();
}

// ---- ending -----------------------------------------------------------

void Pop3Server::on_idle_timeout() {
    if (state_ == State::ended) return;
    last_words_ = "-ERR Autologout; idle for too long";  // RFC 1939 §3 autologout timer
    if (delaying_) on_wakeup();  // answer the held login first; the session ends anyway
    if (stream_.text.awaiting_room()) return stream_cut("stream-cut", last_words_->substr(5));
    resume();
}

void Pop3Server::on_shutdown() {
    if (state_ == State::ended) return;
    last_words_ = "-ERR Server shutting down";
    if (delaying_) on_wakeup();
    if (stream_.text.awaiting_room()) return stream_cut("stream-cut", last_words_->substr(5));
    resume();
}

void Pop3Server::on_peer_closed() {
    if (state_ == State::ended) return;
    delaying_ = holding_ = false;
    stream_ = Stream{};
    // Without QUIT nothing is deleted (RFC 1939 §6), but the lock must go.
    release_maildrop();
    state_ = State::ended;
}

void Pop3Server::end_session(std::string_view last_line) {
    reply(last_line);
    release_maildrop();
    finish();
}

void Pop3Server::finish() {
    state_ = State::ended;
    transport_.close();
}

void Pop3Server::release_maildrop() {
    if (!maildrop_open_) return;
    maildrop_open_ = false;
    submit(CloseMaildrop{maildrop_, {}, false});
}

void Pop3Server::submit(StoreRequest request) {
    ++in_flight_;
    port_.submit(std::move(request));
}

// ---- output -----------------------------------------------------------

void Pop3Server::reply(std::string_view line) {
    observer_.on_reply(line);
    transport_.send(std::string(line) + std::string(kCrlf));
}

// RFC 1939 §3: a multi-line response ends with a line holding only ".".
void Pop3Server::reply_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& line : lines) {
        observer_.on_reply(line);
        out += line;
        out += kCrlf;
    }
    observer_.on_reply(".");
    out += ".\r\n";
    transport_.send(out);
}

std::uint32_t Pop3Server::messages_left() const {
    return static_cast<std::uint32_t>(std::count(deleted_.begin(), deleted_.end(), false));
}

std::uint64_t Pop3Server::octets_left() const {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < messages_.size(); ++i)
        if (!deleted_[i]) total += messages_[i].size;
    return total;
}

}  // namespace bm::apps
