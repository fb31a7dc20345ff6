#include "apps/smtp_server.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

#include "apps/aliases.hpp"
#include "apps/ascii.hpp"
#include "apps/header_fill.hpp"
#include "apps/ipv4_text.hpp"

namespace bm::apps {

namespace {

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets; like Postfix
// we accept up to the 1000 octets of a text line (§4.5.3.1.6).
constexpr std::size_t max_command_line = 1000;
// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with its CRLF
// (ours are, except a few that quote a long argument back).
constexpr std::size_t max_reply_line = 512;
// RFC 5321 §4.5.3.1.2: a HELO argument is a domain (or literal).
constexpr std::size_t max_helo = 255;
// SIZE= is a client's claim (RFC 1870 §5), so it sizes the first
// allocation only up to a chunk; the body grows past it as it arrives.
constexpr std::uint64_t default_body_reserve = 16 << 10;
// A chunk is handed over once the buffer reaches spool_chunk_size, after
// the input scanned in one go (at most the line reader's capacity).
constexpr std::size_t chunk_reserve = spool_chunk_size + 4 * max_command_line;

std::string_view trim_spaces(std::string_view s) {
    while (s.starts_with(' ')) s.remove_prefix(1);
    while (s.ends_with(' ')) s.remove_suffix(1);
    return s;
}

// RFC 5321 §4.1.1: verb, then SP and the argument.
std::pair<std::string_view, std::string_view> split_command(std::string_view line) {
    line = trim_spaces(line);
    std::size_t space = line.find(' ');
    if (space == std::string_view::npos) return {line, {}};
    return {line.substr(0, space), trim_spaces(line.substr(space + 1))};
}

bool has_control_octet(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 32 || u == 127;
    });
}

// A local part the store could mistake for a path is nobody's mailbox.
bool is_unsafe_mailbox_name(std::string_view name) {
    return name.empty() || name.front() == '.' || name.find('/') != std::string_view::npos ||
           has_control_octet(name);
}

// Digits of `n` in `buf`, as a view of it.
std::string_view digits(std::array<char, 20>& buf, std::uint64_t n, int base = 10) {
    auto result = std::to_chars(buf.data(), buf.data() + buf.size(), n, base);
    return {buf.data(), static_cast<std::size_t>(result.ptr - buf.data())};
}

void append_number(std::string& out, std::uint64_t n, int base = 10) {
    std::array<char, 20> buf{};
    out += digits(buf, n, base);
}

// "[a.b.c.d]": the address literal of our own address (RFC 5321 §4.1.3).
bool is_literal_of(std::string_view domain, std::string_view ip) {
    return domain.size() == ip.size() + 2 && domain.front() == '[' && domain.back() == ']' &&
           domain.substr(1, ip.size()) == ip;
}

// Path::address() into a string that keeps its capacity.
void assign_address(std::string& out, const Path& path) {
    out.assign(path.local_part);
    if (path.domain.empty()) return;
    out += '@';
    out += path.domain;
}

std::string bracketed(std::string_view address) {
    std::string out = "<";
    out += address;
    out += ">";
    return out;
}

}  // namespace

SmtpServer::SmtpServer(const SmtpConfig& config, const Peer& peer, Transport& transport,
                       MailPort& port, Observer& observer)
    : config_(config),
      peer_(peer),
      transport_(transport),
      port_(port),
      observer_(observer) {}

SmtpServer::~SmtpServer() = default;

// ---- the pooled part ---------------------------------------------------

struct SmtpServer::Work {
    LineReader reader{max_command_line};
    std::string helo;
    Transaction transaction;
    PathArgument checked;  // the path parsed by check_*, used by proceed_*
    std::string pending_recipient;        // RCPT waiting for LookupUser
    // That RCPT's mailboxes to look up, one LookupUser each (an alias
    // may name several), and the recipients found so far.
    std::vector<std::string> lookups;
    std::size_t next_lookup = 0;
    bool aliased = false;
    std::vector<Recipient> found;
    std::string pending_queue_id;         // DATA waiting for Deliver
    std::string pending_accepted_detail;  // its "accepted" log line
    std::string final_line;               // 421 to send once the store answers
    bool final_line_due = false;
    DataReader data;                // un-stuffing, end of data, bare CR/LF
    std::string body;               // octets not yet handed to the store
    std::uint64_t body_octets = 0;  // all octets of the message so far
    bool body_too_big = false;
    Outcome spool_failure = Outcome::ok;  // a chunk could not be written
    std::uint64_t spool = 0;              // the store's spool of this message, 0 = none
    HeaderScan header_scan;               // what header fill and the hop count need
    std::uint64_t messages = 0;           // per-session part of the queue id
    bool too_many_hops = false;           // RFC 5321 §6.3: a mail loop
    std::uint32_t error_replies = 0;      // 4xx/5xx so far (--max-errors)

    // A block taken from the pool holds its last session's state: back to
    // a new session's, with every string's capacity kept.
    void clear() {
        reader.clear();
        helo.clear();
        transaction.sender.clear();
        transaction.recipients.clear();
        transaction.declared_size = 0;
        pending_recipient.clear();
        lookups.clear();
        next_lookup = 0;
        aliased = false;
        found.clear();
        pending_queue_id.clear();
        pending_accepted_detail.clear();
        final_line.clear();
        final_line_due = false;
        data.reset();
        body.clear();
        body_octets = 0;
        body_too_big = false;
        spool_failure = Outcome::ok;
        spool = 0;
        header_scan = HeaderScan{};
        too_many_hops = false;
        messages = 0;
        error_replies = 0;
    }
};

SmtpServer::Work& SmtpServer::work() {
    return work_.get([](Work& w) { w.clear(); });
}

// ---- the command table -------------------------------------------------

const SmtpServer::Command* SmtpServer::find_command(std::string_view verb) {
    static const std::array<Command, 20> commands = {{
        {"HELO", &SmtpServer::check_greeting, &SmtpServer::proceed_helo},
        {"EHLO", &SmtpServer::check_greeting, &SmtpServer::proceed_ehlo},
        {"MAIL", &SmtpServer::check_mail_from, &SmtpServer::proceed_mail_from},
        {"RCPT", &SmtpServer::check_rcpt_to, &SmtpServer::proceed_rcpt_to},
        {"DATA", &SmtpServer::check_data, &SmtpServer::proceed_data},
        {"RSET", &SmtpServer::check_rset, &SmtpServer::proceed_rset},
        {"NOOP", &SmtpServer::check_anything, &SmtpServer::proceed_noop},
        {"QUIT", &SmtpServer::check_anything, &SmtpServer::proceed_quit},
        {"HELP", &SmtpServer::check_anything, &SmtpServer::proceed_help},
        {"VRFY", &SmtpServer::check_vrfy, &SmtpServer::proceed_vrfy},
        // RFC 5321 §4.5.1 lets a server refuse EXPN; the rest are extensions
        // or obsolete commands (RFC 5321 §4.1.1, App. F) we do not offer.
        {"EXPN", &SmtpServer::check_anything, &SmtpServer::proceed_not_implemented},
        {"TURN", &SmtpServer::check_anything, &SmtpServer::proceed_not_implemented},
        {"ETRN", &SmtpServer::check_anything, &SmtpServer::proceed_not_implemented},
        {"ATRN", &SmtpServer::check_anything, &SmtpServer::proceed_not_implemented},
        {"BDAT", &SmtpServer::check_anything, &SmtpServer::proceed_not_implemented},
        {"AUTH", &SmtpServer::check_anything, &SmtpServer::proceed_not_implemented},
        {"STARTTLS", &SmtpServer::check_anything, &SmtpServer::proceed_not_implemented},
        {"SEND", &SmtpServer::check_anything, &SmtpServer::proceed_not_implemented},
        {"SOML", &SmtpServer::check_anything, &SmtpServer::proceed_not_implemented},
        {"SAML", &SmtpServer::check_anything, &SmtpServer::proceed_not_implemented},
    }};
    // RFC 5321 §2.4: verbs ignore case. The first letter rules out most
    // entries before a whole comparison.
    const char first = to_lower(verb.front());
    for (const Command& command : commands)
        if (to_lower(command.verb.front()) == first && iequals(command.verb, verb)) return &command;
    return nullptr;
}

// ---- session events ----------------------------------------------------

void SmtpServer::start() {
    // RFC 5321 §4.3.1 / §3.1: 220 greeting; "ESMTP" invites EHLO (RFC 1869 §4.2).
    send_line({"220 ", config_.hostname, " ESMTP baremail"});
}

// Input is read where it lies; the line buffer keeps only what must wait:
// the start of a line cut by the end of `bytes`, and what a pipelining
// client sends while a store request is out.
std::size_t SmtpServer::on_bytes(std::string_view bytes) {
    std::size_t taken = 0;
    while (!closed_session() && !waiting() && taken < bytes.size()) {
        std::string_view rest = bytes.substr(taken);
        if (work().reader.empty()) {
            taken += read_in_place(rest);
            continue;
        }
        std::size_t fed = work().reader.feed_line_end(rest);  // the held line's end, no more
        taken += fed;
        process_input();
        if (fed == 0) break;
    }
    // RFC 2920 §3.1: a pipelining client may keep sending while we wait;
    // buffer what fits, read none of it until the store has answered.
    if (!closed_session() && waiting()) taken += work().reader.feed(bytes.substr(taken));
    return taken;
}

void SmtpServer::on_store_reply(StoreReply reply) {
    if (std::holds_alternative<SpoolDropped>(reply)) return;  // DropSpool is not waited for
    Pending was = pending_;
    pending_ = Pending::none;
    if (closed_session()) {  // the peer left; nothing to tell it
        release_late_spool(reply);
        return;
    }
    if (was == Pending::lookup_user) {
        const auto* found = std::get_if<UserFound>(&reply);
        on_user_found(found ? *found : UserFound{Outcome::temp_failure, {}});
    } else if (was == Pending::spool) {
        const auto* spooled = std::get_if<Spooled>(&reply);
        on_spooled(spooled ? *spooled : Spooled{Outcome::temp_failure, 0});
    } else if (was == Pending::deliver) {
        const auto* delivered = std::get_if<Delivered>(&reply);
        on_delivered(delivered ? *delivered : Delivered{Outcome::temp_failure, "bad reply"});
    }
    if (work().final_line_due) {
        end_session({work().final_line});
        return;
    }
    process_input();
}

void SmtpServer::on_idle_timeout() {
    // RFC 5321 §4.5.3.2: the server may close an idle session; 421 first (§3.8).
    end_session({"421 ", esmtp() ? "4.4.2 " : "", config_.hostname, " Error: timeout exceeded"});
}

void SmtpServer::on_shutdown() { end_session({"421 ", config_.hostname, " shutting down"}); }

void SmtpServer::on_peer_closed() {
    // RFC 5321 §3.3: a transaction without its final "." is void.
    phase_ = Phase::closed;
    reset_transaction();
}

// ---- input ---------------------------------------------------------------

// What the line buffer holds.
void SmtpServer::process_input() {
    while (!closed_session() && !waiting()) {
        if (phase_ == Phase::in_data) {
            BodyRead body = read_body(work().reader.raw());
            work().reader.consume_raw(body.consumed);
            if (!body.ended) return;
            end_of_data();
            continue;
        }
        std::optional<LineReader::Line> line = work().reader.next();
        if (!line) return;
        take_line(*line);
    }
}

// `input` itself, with nothing held before it; returns the octets taken.
std::size_t SmtpServer::read_in_place(std::string_view input) {
    std::size_t at = 0;
    while (at < input.size() && !closed_session() && !waiting()) {
        std::string_view rest = input.substr(at);
        if (phase_ == Phase::in_data) {
            // In pieces of the buffer's size, so a chunk for the store
            // passes spool_chunk_size by as little as when buffered.
            BodyRead body = read_body(rest.substr(0, work().reader.capacity()));
            at += body.consumed;
            if (body.ended) end_of_data();
            continue;
        }
        std::size_t used = 0;
        std::optional<LineReader::Line> line = work().reader.next_in(rest, used);
        at += used;
        if (!line) break;  // a cut line: its start is held
        take_line(*line);
    }
    return at;
}

void SmtpServer::take_line(const LineReader::Line& line) {
    if (refuse_after_too_many_errors()) return;
    if (line.kind == LineReader::Kind::too_long) {
        reply("500", "5.5.0", "Line too long");  // RFC 5321 §4.5.3.1.6, session goes on
    } else {
        dispatch(line.text);
    }
}

// Postfix's smtpd_hard_error_limit (--max-errors): checked before each
// command, as Postfix does, so the last error is answered and the next
// command is not. A client that only makes errors (a flood of empty
// lines, a scan) ends here instead of at the idle timeout.
bool SmtpServer::refuse_after_too_many_errors() {
    std::uint32_t errors = work().error_replies;
    if (config_.max_errors == 0 || errors < config_.max_errors) return false;
    std::string detail = "reason=too many errors errors=";
    append_number(detail, errors);
    observer_.on_event("refused", detail);
    end_session({"421 ", esmtp() ? "4.7.0 " : "", config_.hostname, " Error: too many errors"});
    return true;
}

void SmtpServer::dispatch(std::string_view line) {
    observer_.on_command(line);
    auto [verb, argument] = split_command(line);
    if (verb.empty()) {
        reply("500", "5.5.2", "Error: bad syntax");
        return;
    }
    const Command* command = find_command(verb);
    if (command == nullptr) {
        reply("500", "5.5.2", "Error: command not recognized");  // RFC 5321 §4.2.4
        return;
    }
    if ((this->*command->check)(argument)) (this->*command->proceed)(argument);
}

// ---- checks ----------------------------------------------------------------

bool SmtpServer::check_greeting(std::string_view argument) {
    // RFC 5321 §4.1.1.1: HELO/EHLO take the client's domain or address literal.
    if (argument.empty()) {
        reply("501", "5.5.4", "Syntax: HELO/EHLO hostname");
        return false;
    }
    // It goes into the Received: field, so it must be one short printable line.
    if (argument.size() > max_helo || has_control_octet(argument)) {
        reply("501", "5.5.2", "Helo command rejected: Invalid name");
        return false;
    }
    return true;
}

bool SmtpServer::check_mail_from(std::string_view argument) {
    // RFC 5321 §4.1.4: MAIL only after HELO/EHLO and outside a transaction.
    if (phase_ == Phase::connected) {
        reply("503", "5.5.1", "Error: send HELO/EHLO first");
        return false;
    }
    if (phase_ == Phase::in_mail) {
        reply("503", "5.5.1", "Error: nested MAIL command");
        return false;
    }
    work().checked = parse_mail_from(argument);
    if (!work().checked.ok()) return reject_path(work().checked, true);
    // RFC 1870 §6.1: a declared size over our limit is refused at once.
    if (work().checked.parameters.size.value_or(0) > config_.max_message_size) {
        reply("552", "5.3.4", "Message size exceeds fixed limit");
        return false;
    }
    return true;
}

bool SmtpServer::check_rcpt_to(std::string_view argument) {
    // RFC 5321 §4.1.4: RCPT only inside a transaction.
    if (phase_ != Phase::in_mail) {
        reply("503", "5.5.1", "Error: need MAIL command");
        return false;
    }
    work().checked = parse_rcpt_to(argument);
    if (!work().checked.ok()) {
        observer_.on_event("rejected", "reason=bad recipient: " + work().checked.reason);
        return reject_path(work().checked, false);
    }
    // RFC 5321 §4.5.3.1.8: 452 for recipients beyond the limit (§4.5.3.1.10).
    if (work().transaction.recipients.size() >= config_.max_recipients) {
        reply("452", "4.5.3", "Error: too many recipients");
        return false;
    }
    return true;
}

bool SmtpServer::reject_path(const PathArgument& parsed, bool sender) {
    switch (parsed.error) {
        case PathError::none:
            return true;
        case PathError::address:
            // RFC 3463 §3.2: X.1.7 bad sender, X.1.3 bad destination syntax.
            if (sender) {
                reply("501", "5.1.7", "Bad sender address syntax");
            } else {
                reply("501", "5.1.3", "Bad recipient address syntax");
            }
            return false;
        case PathError::unknown_parameter:
            reply("555", "5.5.4", parsed.reason);  // RFC 5321 §4.1.1.11
            return false;
        case PathError::keyword:
        case PathError::bad_parameter:
            reply("501", "5.5.4", parsed.reason);
            return false;
    }
    return false;
}

bool SmtpServer::check_data(std::string_view argument) {
    if (!argument.empty()) {
        reply("501", "5.5.4", "Syntax: DATA");  // RFC 5321 §4.1.1.4: no argument
        return false;
    }
    // RFC 5321 §4.1.1.4: 503 without at least one accepted recipient.
    if (phase_ != Phase::in_mail || work().transaction.recipients.empty()) {
        reply("503", "5.5.1", "Error: need RCPT command");
        return false;
    }
    return true;
}

bool SmtpServer::check_rset(std::string_view argument) {
    if (!argument.empty()) {
        reply("501", "5.5.4", "Syntax: RSET");  // RFC 5321 §4.1.1.5: no argument
        return false;
    }
    return true;
}

bool SmtpServer::check_vrfy(std::string_view argument) {
    if (argument.empty()) {
        reply("501", "5.5.4", "Syntax: VRFY address");
        return false;
    }
    return true;
}

bool SmtpServer::check_anything(std::string_view) { return true; }

// ---- proceeds ----------------------------------------------------------------

void SmtpServer::proceed_helo(std::string_view argument) {
    // RFC 5321 §4.1.4: HELO/EHLO also reset any transaction (as RSET).
    reset_transaction();
    phase_ = Phase::greeted;
    greeting_ = Greeting::helo;
    work().helo.assign(argument);
    send_line({"250 ", config_.hostname});
}

void SmtpServer::proceed_ehlo(std::string_view argument) {
    reset_transaction();
    phase_ = Phase::greeted;
    greeting_ = Greeting::ehlo;
    work().helo.assign(argument);
    // RFC 5321 §4.1.1.1: multi-line 250, one extension keyword per line.
    std::array<char, 20> size{};
    send_line({"250-", config_.hostname});
    send_line("250-PIPELINING");                                        // RFC 2920
    send_line({"250-SIZE ", digits(size, config_.max_message_size)});   // RFC 1870
    send_line("250-8BITMIME");                                          // RFC 6152
    send_line("250-ENHANCEDSTATUSCODES");                               // RFC 2034
    send_line("250 HELP");
}

void SmtpServer::proceed_mail_from(std::string_view) {
    clear_transaction(work());
    assign_address(work().transaction.sender, work().checked.path);
    work().transaction.declared_size = work().checked.parameters.size.value_or(0);
    phase_ = Phase::in_mail;
    reply_ok("2.1.0", "Ok");
}

void SmtpServer::proceed_rcpt_to(std::string_view) {
    const Path& path = work().checked.path;
    if (is_local(path)) {
        lookup_recipient(path);
        return;
    }
    std::string address = path.address();
    if (peer_.may_relay) {
        accept_recipient(address, {});  // an empty mailbox sends it to the relay queue
        return;
    }
    // RFC 5321 §3.6.2: we are no open relay; RFC 3463 X.7.1 delivery not authorized.
    reply("554", "5.7.1", bracketed(address) + ": Relay access denied");
    observer_.on_event("rejected", "to=" + bracketed(address) + " reason=relay access denied");
}

void SmtpServer::proceed_data(std::string_view) {
    phase_ = Phase::in_data;
    begin_body();
    send_line("354 End data with <CR><LF>.<CR><LF>");  // RFC 5321 §4.1.1.4
}

void SmtpServer::proceed_rset(std::string_view) {
    // RFC 5321 §4.1.1.5: drop the transaction, keep the greeting.
    reset_transaction();
    phase_ = greeting_ == Greeting::none ? Phase::connected : Phase::greeted;
    reply_ok("2.0.0", "Ok");
}

void SmtpServer::proceed_noop(std::string_view) { reply_ok("2.0.0", "Ok"); }

void SmtpServer::proceed_quit(std::string_view) {
    // RFC 5321 §4.1.1.10: 221, then close.
    if (esmtp()) {
        end_session({"221 2.0.0 Bye"});
    } else {
        end_session({"221 ", config_.hostname, " closing connection"});
    }
}

void SmtpServer::proceed_help(std::string_view) {
    reply("214", "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY");
}

void SmtpServer::proceed_vrfy(std::string_view) {
    // RFC 5321 §3.5.3 / §7.3: 252 neither confirms nor denies a user.
    reply("252", "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

void SmtpServer::proceed_not_implemented(std::string_view) {
    reply("502", "5.5.1", "Command not implemented");  // RFC 5321 §4.2.4
}

// ---- recipients ----------------------------------------------------------------

bool SmtpServer::is_local(const Path& path) const {
    if (path.domain.empty()) return true;  // bare <postmaster>, RFC 5321 §4.5.1
    return is_local_domain(path.domain);
}

bool SmtpServer::is_local_domain(std::string_view domain) const {
    // The local address is put into text only for a domain literal.
    if (peer_.local_ip != 0 && domain.starts_with('[') && is_literal_of(domain, Ipv4Text(peer_.local_ip).view()))
        return true;
    return std::any_of(config_.local_domains.begin(), config_.local_domains.end(),
                       [&](const std::string& local) { return iequals(local, domain); });
}

// A local recipient is an alias's members or a mailbox of its own name;
// each mailbox is looked up in turn, and the RCPT answered once.
void SmtpServer::lookup_recipient(const Path& path) {
    Work& w = work();
    std::string name = path.unquoted_local_part();
    // RFC 5321 §4.5.1: "postmaster" is case-insensitive at every local domain.
    if (iequals(name, "postmaster")) name = "postmaster";
    assign_address(w.pending_recipient, path);
    w.lookups.clear();
    w.next_lookup = 0;
    w.found.clear();
    if (!expand_alias(name)) return;
    if (!w.aliased) w.lookups.push_back(std::move(name));
    lookup_next();
}

// False if the RCPT was refused here.
bool SmtpServer::expand_alias(const std::string& name) {
    Work& w = work();
    w.aliased = false;
    if (!config_.aliases) return true;
    AliasExpansion expansion = config_.aliases->current()->expand(
        name, [this](std::string_view domain) { return is_local_domain(domain); });
    if (!expansion.expanded) return true;
    const std::string& address = w.pending_recipient;
    if (expansion.too_deep) {
        // RFC 3463 §3.5: X.4.6 routing loop detected.
        reply("550", "5.4.6",
              bracketed(address) + ": Recipient address rejected: alias expansion too deep");
        observer_.on_event("rejected", "to=" + bracketed(address) + " reason=alias expansion too deep");
        w.pending_recipient.clear();
        return false;
    }
    w.aliased = true;
    // Members elsewhere go to the relay queue whoever the client is: the
    // alias, not the client, chose them.
    for (std::string& remote : expansion.remote) w.found.push_back(Recipient{std::move(remote), {}});
    w.lookups = std::move(expansion.local_names);
    return true;
}

void SmtpServer::lookup_next() {
    Work& w = work();
    for (; w.next_lookup < w.lookups.size(); ++w.next_lookup) {
        const std::string& name = w.lookups[w.next_lookup];
        if (is_unsafe_mailbox_name(name)) continue;  // nobody's mailbox: unknown
        pending_ = Pending::lookup_user;
        port_.submit(LookupUser{name});
        return;
    }
    finish_recipient();
}

void SmtpServer::on_user_found(const UserFound& found) {
    Work& w = work();
    const std::string& address = w.pending_recipient;
    switch (found.outcome) {
        case Outcome::ok:
            w.found.push_back(Recipient{address, found.mailbox});
            break;
        case Outcome::not_found:
            // Like Postfix's local(8), the alias stands for the members
            // that exist; the operator learns of the others from the log.
            if (w.aliased)
                observer_.on_event("alias", "to=" + bracketed(address) + " member=" +
                                                w.lookups[w.next_lookup] + " reason=user unknown");
            break;
        default:
            // RFC 3463 §3.4: X.3.0 mail system problem; the client retries.
            reply("451", "4.3.0", bracketed(address) + ": Temporary lookup failure");
            w.pending_recipient.clear();
            return;
    }
    ++w.next_lookup;
    lookup_next();
}

void SmtpServer::finish_recipient() {
    Work& w = work();
    const std::string& address = w.pending_recipient;
    if (w.found.empty()) {
        // RFC 3463 §3.2: X.1.1 bad destination mailbox address.
        reply("550", "5.1.1", bracketed(address) + ": Recipient address rejected: User unknown");
        observer_.on_event("rejected", "to=" + bracketed(address) + " reason=user unknown");
    } else {
        for (Recipient& recipient : w.found) add_recipient(std::move(recipient));
        reply_ok("2.1.5", "Ok");
    }
    w.found.clear();
    w.pending_recipient.clear();
}

void SmtpServer::accept_recipient(const std::string& address, const std::string& mailbox) {
    add_recipient(Recipient{address, mailbox});
    reply_ok("2.1.5", "Ok");
}

// A recipient given twice, or reached twice through aliases, is stored
// once (as Postfix's cleanup does): a mailbox by its name, a remote
// recipient by its address.
void SmtpServer::add_recipient(Recipient recipient) {
    auto same = [&](const Recipient& r) {
        return r.mailbox == recipient.mailbox && (!r.mailbox.empty() || r.address == recipient.address);
    };
    auto& recipients = work().transaction.recipients;
    if (std::none_of(recipients.begin(), recipients.end(), same)) recipients.push_back(std::move(recipient));
}

// ---- DATA --------------------------------------------------------------------

void SmtpServer::begin_body() {
    work().data.reset();  // the DATA line's CRLF just passed
    work().body_octets = 0;
    work().body_too_big = false;
    work().spool_failure = Outcome::ok;
    work().header_scan = HeaderScan{};
    work().too_many_hops = false;
    std::uint64_t hint = work().transaction.declared_size ? work().transaction.declared_size
                                                    : default_body_reserve;
    hint = std::min({hint, config_.max_message_size, std::uint64_t{chunk_reserve}});
    work().body.clear();
    work().body.reserve(static_cast<std::size_t>(hint));
}

// Scans body octets from `input`, as far as the end of the data.
SmtpServer::BodyRead SmtpServer::read_body(std::string_view input) {
    BodyRead read;
    while (read.consumed < input.size() && !read.ended) {
        DataReader::Piece piece = work().data.next(input.substr(read.consumed));
        read.consumed += piece.consumed;
        read.ended = piece.end;
        if (!piece.octets.empty()) store_body(piece.octets);
    }
    if (!read.ended && work().body.size() >= spool_chunk_size) spool_body();
    return read;
}

void SmtpServer::store_body(std::string_view octets) {
    work().body_octets += octets.size();
    // RFC 1870 §6.3: past the limit, read on to the end but keep nothing.
    if (work().body_octets > config_.max_message_size) work().body_too_big = true;
    if (body_refused()) {
        discard_body();
        return;
    }
    std::string& body = work().body;
    // Past the first reserve, straight to a spool chunk's size: one
    // reallocation a message at most, not one per doubling.
    if (body.size() + octets.size() > body.capacity())
        body.reserve(std::max(chunk_reserve, body.size() + octets.size()));
    body.append(octets);
    count_hops(octets);
}

// Known before the final dot to end in 554, 552 or a store failure: the
// rest is read (RFC 5321 §4.1.1.4: the reply comes after the end of the
// data, or the client's next lines would be taken for commands) but kept
// nowhere.
bool SmtpServer::body_refused() const {
    const Work& w = *work_.peek();  // reading a body: the block is held
    return w.body_too_big || w.data.bare_newline() || w.spool_failure != Outcome::ok || w.too_many_hops;
}

// RFC 5321 §6.3: each relay adds a Received: field, so more than
// --max-hops of them is a loop; known from the header section as it
// streams, so a looping big message is never spooled whole.
void SmtpServer::count_hops(std::string_view octets) {
    Work& w = work();
    if (w.header_scan.done()) return;
    w.header_scan.feed(octets);
    if (w.header_scan.received_fields() <= config_.max_hops) return;
    w.too_many_hops = true;
    discard_body();
}

void SmtpServer::refuse_loop() {
    // RFC 3463 §3.5: X.4.6 routing loop detected.
    reply("554", "5.4.6", "Too many hops");
    std::string detail = "from=" + bracketed(work().transaction.sender) + " reason=too many hops: more than ";
    append_number(detail, config_.max_hops);
    detail += " Received: fields";
    observer_.on_event("rejected", detail);
    reset_transaction();
}

void SmtpServer::discard_body() {
    if (work().body.capacity() != 0) std::string().swap(work().body);
    drop_spool();
}

// Hands what is buffered to the store; no input is read until it answers.
void SmtpServer::spool_body() {
    pending_ = Pending::spool;
    port_.submit(SpoolChunk{work().spool, std::exchange(work().body, std::string())});
}

void SmtpServer::on_spooled(const Spooled& spooled) {
    work().spool = spooled.spool;
    if (spooled.outcome != Outcome::ok) {
        // Remembered for the reply after the final dot (452 when disk full).
        work().spool_failure = spooled.outcome;
        discard_body();
        return;
    }
    if (phase_ == Phase::in_data && !work().final_line_due) work().body.reserve(chunk_reserve);
}

void SmtpServer::drop_spool() {
    if (work().spool != 0) port_.submit(DropSpool{std::exchange(work().spool, 0)});
}

// A chunk's answer for a session already gone: its spool has no owner left.
void SmtpServer::release_late_spool(const StoreReply& reply) {
    const auto* spooled = std::get_if<Spooled>(&reply);
    if (spooled && spooled->spool != 0) port_.submit(DropSpool{spooled->spool});
}

void SmtpServer::end_of_data() {
    phase_ = Phase::greeted;
    if (work().data.bare_newline()) {
        // RFC 5321 §2.3.8: lines end only in CRLF; a bare CR or LF could
        // let a client smuggle a second message past another server.
        reply("554", "5.5.2",
              "Error: bare <CR> or <LF> in message (RFC 5321 section 2.3.8)");
        observer_.on_event("rejected", "from=" + bracketed(work().transaction.sender) +
                                           " reason=bare CR or LF in message");
        reset_transaction();
        return;
    }
    if (work().body_too_big) {
        reply("552", "5.3.4", "Message size exceeds fixed limit");  // RFC 1870 §6.3
        observer_.on_event("rejected", "from=" + bracketed(work().transaction.sender) +
                                           " reason=message size exceeds fixed limit");
        reset_transaction();
        return;
    }
    if (work().too_many_hops) {
        refuse_loop();
        return;
    }
    if (work().spool_failure != Outcome::ok) {
        reply_store_failure(work().spool_failure);
        reset_transaction();
        return;
    }
    submit_delivery();
}

void SmtpServer::submit_delivery() {
    Deliver deliver;
    deliver.queue_id = next_queue_id();
    if (config_.header_fill) {
        const Ipv4Text client_ip(peer_.ip);
        Arrival arrival{work().helo, client_ip.view(), config_.hostname, esmtp(), deliver.queue_id,
                        work().transaction.recipients, config_.now()};
        // Decided on the whole header section as scanned on arrival, so a
        // spooled message gets the same fields as one held whole.
        deliver.head = header_prefix(arrival, work().header_scan);
    }
    work().pending_queue_id = deliver.queue_id;
    std::string& detail = work().pending_accepted_detail;  // its capacity is kept from message to message
    detail.clear();
    detail += "id=";
    detail += deliver.queue_id;
    detail += " from=<";
    detail += work().transaction.sender;
    detail += "> rcpts=";
    append_number(detail, work().transaction.recipients.size());
    detail += " size=";
    append_number(detail, deliver.head.size() + work().body_octets);
    deliver.envelope = Envelope{std::move(work().transaction.sender), std::move(work().transaction.recipients)};
    deliver.spool = std::exchange(work().spool, 0);  // the delivery uses it up
    deliver.message = std::move(work().body);
    reset_transaction();
    pending_ = Pending::deliver;
    port_.submit(std::move(deliver));
}

std::string SmtpServer::next_queue_id() {
    // Unique per process run (instance tag), connection and message.
    std::array<char, 20> connection{}, message{};
    std::string_view parts[] = {config_.instance_tag, ".", digits(connection, peer_.connection, 16),
                                ".", digits(message, ++work().messages)};
    std::string id;
    std::size_t size = 0;
    for (std::string_view part : parts) size += part.size();
    id.reserve(size);  // a short id stays inside the string itself
    for (std::string_view part : parts) id += part;
    return id;
}

void SmtpServer::on_delivered(const Delivered& delivered) {
    // RFC 5321 §4.1.1.4: 250 only once the message is safe (SPEC: fsync'd).
    switch (delivered.outcome) {
        case Outcome::ok:
            reply_ok("2.0.0", "Ok: queued as ", work().pending_queue_id);
            observer_.on_event("accepted", work().pending_accepted_detail);
            break;
        case Outcome::permanent_failure:
            reply("554", "5.3.0", "Error: message could not be stored");
            observer_.on_event("rejected", "id=" + work().pending_queue_id + " reason=" +
                                               (delivered.detail.empty() ? "store failure"
                                                                         : delivered.detail));
            break;
        default:
            reply_store_failure(delivered.outcome);
            break;
    }
    work().pending_queue_id.clear();
    work().pending_accepted_detail.clear();
}

// The client may try again later: nothing was stored.
void SmtpServer::reply_store_failure(Outcome outcome) {
    if (outcome == Outcome::no_space) {
        reply("452", "4.3.1", "Insufficient system storage");  // RFC 3463 §3.4
    } else {
        reply("451", "4.3.0", "Error: queue file write error");
    }
}

// ---- replies and session end ---------------------------------------------

void SmtpServer::send_line(std::string_view line) { send_line({line}); }

// The line is put together on the stack: a reply costs no allocation and
// an idle session holds no buffer for it.
void SmtpServer::send_line(std::initializer_list<std::string_view> parts) {
    std::size_t size = 0;
    for (std::string_view part : parts) size += part.size();
    std::array<char, max_reply_line> buf;
    std::string long_line;  // only a reply that quotes a long argument needs it
    char* line = buf.data();
    if (size + 2 > buf.size()) {
        long_line.resize(size + 2);
        line = long_line.data();
    }
    char* at = line;
    for (std::string_view part : parts) at = std::copy(part.begin(), part.end(), at);
    observer_.on_reply({line, size});
    count_error_reply({line, size});
    *at++ = '\r';
    *at++ = '\n';
    transport_.send({line, size + 2});
}

// RFC 2034 §3: the enhanced code follows the reply code, only where EHLO
// announced ENHANCEDSTATUSCODES; HELO sessions and greetingless ones get
// plain RFC 5321 replies. `more` continues `text`.
void SmtpServer::reply(std::string_view code, std::string_view status, std::string_view text,
                       std::string_view more) {
    if (esmtp() && !status.empty()) {
        send_line({code, " ", status, " ", text, more});
    } else {
        send_line({code, " ", text, more});
    }
}

// SPEC: outside EHLO sessions a positive completion is the classic "250 OK".
void SmtpServer::reply_ok(std::string_view status, std::string_view text, std::string_view more) {
    if (esmtp()) {
        reply("250", status, text, more);
    } else {
        send_line("250 OK");
    }
}

// A reply's last line ("NNN text", not "NNN-text") with a 4xx or 5xx code
// is one error (RFC 5321 §4.2.1). Only a session that has spoken can have
// made one: the greeting and a timeout's 421 take no pooled block for this.
void SmtpServer::count_error_reply(std::string_view line) {
    if (line.size() < 4 || line[3] != ' ' || (line[0] != '4' && line[0] != '5') || !work_.held()) return;
    ++work().error_replies;
}

// The last line of a session; if the store still owes an answer, that
// answer's reply goes first (RFC 5321 §3.8: the 421 comes in order).
// The line comes in parts, like send_line's, so building it costs no
// allocation; a line held for later goes into the pooled block's string.
void SmtpServer::end_session(std::initializer_list<std::string_view> line) {
    if (closed_session()) return;
    if (waiting()) {
        std::string& held = work().final_line;
        held.clear();
        for (std::string_view part : line) held += part;
        work().final_line_due = true;
        return;
    }
    send_line(line);
    close();
}

void SmtpServer::close() {
    phase_ = Phase::closed;
    reset_transaction();
    transport_.close();
}

// RFC 5321 §3.3: a transaction that ends without its delivery leaves
// nothing behind, spooled octets included.
void SmtpServer::reset_transaction() {
    if (phase_ == Phase::in_mail || phase_ == Phase::in_data) phase_ = Phase::greeted;
    if (!work_.held()) return;  // never spoken: no transaction to drop
    clear_transaction(work());
    std::string().swap(work().body);
    drop_spool();
}

// The envelope emptied, its strings' capacity kept for the next one.
void SmtpServer::clear_transaction(Work& w) {
    w.transaction.sender.clear();
    w.transaction.recipients.clear();
    w.transaction.declared_size = 0;
}

}  // namespace bm::apps
