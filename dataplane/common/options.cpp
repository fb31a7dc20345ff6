#include "dataplane/common/options.hpp"

#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <limits>

#include "apps/aliases.hpp"
#include "apps/relay/route.hpp"
#include "store/aliases.hpp"

namespace bm {
namespace {

enum LongOnly : int {
    opt_users = 256, opt_smtp_port, opt_pop3_port, opt_echo_port, opt_hostname,
    opt_local_domain, opt_relay_from, opt_queue_dir, opt_relayhost, opt_dns,
    opt_retry_delay, opt_max_attempts, opt_max_conn, opt_max_msg_size,
    opt_idle_timeout, opt_log, opt_daemon, opt_pid_file, opt_header_fill,
    opt_sink, opt_fixed_isn, opt_tcb_capacity, opt_ip, opt_gateway,
    opt_relay_timeout, opt_poll, opt_poll_idle_us, opt_max_spool, opt_min_mss,
    opt_version, opt_smtp_idle_timeout, opt_pop3_idle_timeout, opt_send_timeout,
    opt_aliases, opt_max_hops, opt_max_conn_per_ip, opt_max_conn_rate_per_ip, opt_user,
    opt_max_queue_lifetime, opt_max_retry_delay, opt_delay_warning, opt_max_errors,
};

// Builds an option applies to.
enum BuildMask : unsigned { both = 3, dpdk_only = 2 };

// Where an option is listed in --help (SPEC "Command line" order).
enum class Group { mail, services, relay, limits, process, dpdk, test };

// One option: what getopt needs and its --help line. The parser's long
// option table and the usage text are both made from this one list, so an
// option added here is parsed and documented together.
struct OptionSpec {
    const char* name;  // long name without "--"; nullptr for a short-only option
    int id;            // the short letter, or a LongOnly value
    const char* arg;   // the argument as shown in help; nullptr: takes none
    Group group;
    BuildMask builds;
    const char* default_text;  // "" when there is nothing to say
    const char* meaning;
};

const OptionSpec option_specs[] = {
    {"mail-dir", 'd', "DIR", Group::mail, both, "",
     "(required) mailboxes: DIR/USER/ (Maildir: cur, new, tmp) or DIR/USER.mbox; a user exists iff one of them does"},
    {"users", opt_users, "FILE", Group::mail, both, "none: POP3 login refused",
     "user:password lines (clear text, needed for APOP, or a crypt(3) hash $6$/$y$)"},
    {"aliases", opt_aliases, "FILE", Group::mail, both, "none",
     "name: user, user2, remote@domain lines (aliases(5)), re-read on SIGHUP; postmaster goes to its alias"},
    {"hostname", opt_hostname, "NAME", Group::mail, both, "localhost",
     "name in the greeting, Received:, Message-ID and bounces"},
    {"local-domain", opt_local_domain, "D", Group::mail, both, "hostname, localhost",
     "repeatable; mail to these domains is delivered locally"},
    {"header-fill", opt_header_fill, "all|none", Group::mail, both, "all",
     "add Received/Date/Message-ID on delivery, or store exactly what was sent"},
    {"smtp-port", opt_smtp_port, "N", Group::services, both, "2500", "SMTP port; 0 disables"},
    {"pop3-port", opt_pop3_port, "N", Group::services, both, "11000", "POP3 port; 0 disables"},
    {"echo-port", opt_echo_port, "N", Group::services, both, "10000", "ECHO/QUIT port; 0 disables"},
    {"ip", opt_ip, "A.B.C.D[/NN]", Group::services, both, "0.0.0.0 (kernel), 10.99.0.1/24 (DPDK)",
     "kernel build: the listen address; DPDK build: the stack's own address and prefix"},
    {"relay-from", opt_relay_from, "CIDR", Group::relay, both, "127.0.0.0/8",
     "repeatable; clients allowed to relay to non-local domains (others get 554)"},
    {"queue-dir", opt_queue_dir, "DIR", Group::relay, both, "DIR/.queue",
     "one file per queued message, crash-safe"},
    {"relayhost", opt_relayhost, "HOST[:PORT]", Group::relay, both, "none: MX lookup",
     "smarthost for all non-local mail (else MX, then A: RFC 5321 section 5)"},
    {"dns", opt_dns, "IP", Group::relay, both, "first nameserver of /etc/resolv.conf",
     "resolver for MX/A lookups"},
    {"relay-timeout", opt_relay_timeout, "S", Group::relay, both, "300",
     "wait for each reply of a remote server (RFC 5321 section 4.5.3.2)"},
    {"retry-delay", opt_retry_delay, "S", Group::relay, both, "300",
     "delay before the 2nd delivery attempt, doubling after each failure"},
    {"max-attempts", opt_max_attempts, "N", Group::relay, both, "5",
     "attempts at every MX host before the message is bounced (RFC 3464 report)"},
    {"max-retry-delay", opt_max_retry_delay, "T", Group::relay, both, "4000s",
     "the doubling retry delay stops growing here (T: seconds, or Ns, Nm, Nh, Nd)"},
    {"max-queue-lifetime", opt_max_queue_lifetime, "T", Group::relay, both, "5d",
     "undelivered mail bounces when this old, or after --max-attempts, whichever first"},
    {"delay-warning", opt_delay_warning, "T", Group::relay, both, "4h",
     "one delay warning (RFC 3464 Action: delayed) to the sender of mail this old; 0: none"},
    {"max-conn", opt_max_conn, "N", Group::limits, both, "4096",
     "sessions per service; the next client gets 421/-ERR and is closed"},
    {"max-conn-per-ip", opt_max_conn_per_ip, "N", Group::limits, both, "50",
     "sessions per service from one client address (0: no limit); --relay-from clients are exempt"},
    {"max-conn-rate-per-ip", opt_max_conn_rate_per_ip, "N", Group::limits, both, "0: no limit",
     "connections per service from one client address per 60 s; --relay-from clients are exempt"},
    {"max-msg-size", opt_max_msg_size, "B", Group::limits, both, "10485760",
     "advertised as SIZE; larger messages get 552"},
    {"max-hops", opt_max_hops, "N", Group::limits, both, "100",
     "more Received: fields is a mail loop: 554 5.4.6 after DATA (RFC 5321 section 6.3)"},
    {"max-errors", opt_max_errors, "N", Group::limits, both, "20",
     "SMTP error replies a session may get; then 421 4.7.0 and closed (0: no limit)"},
    {"max-spool", opt_max_spool, "B", Group::limits, both, "1073741824",
     "octets of message bodies spooled at once, all sessions together; past it 452"},
    {"idle-timeout", opt_idle_timeout, "S", Group::limits, both, "300 SMTP, 600 POP3",
     "sets both --smtp-idle-timeout and --pop3-idle-timeout (and the echo service's)"},
    {"smtp-idle-timeout", opt_smtp_idle_timeout, "S", Group::limits, both, "300",
     "an idle SMTP session is closed with 421 (RFC 5321 section 4.5.3.2)"},
    {"pop3-idle-timeout", opt_pop3_idle_timeout, "S", Group::limits, both, "600",
     "an idle POP3 session is closed with -ERR (RFC 1939: at least 10 minutes)"},
    {"send-timeout", opt_send_timeout, "S", Group::limits, both, "300",
     "a client that reads none of its replies for this long is disconnected"},
    {"log", opt_log, "FILE", Group::process, both, "stderr",
     "one log for receiver and relay client"},
    {"daemon", opt_daemon, nullptr, Group::process, both, "off", "detach from the terminal (needs --log)"},
    {"user", opt_user, "NAME", Group::process, both, "none: keeps the starting user",
     "after opening ports and files as root, run as NAME (its uid, gid and groups)"},
    {"pid-file", opt_pid_file, "F", Group::process, both, "none",
     "write the pid; a second instance on the same file refuses to start"},
    {nullptr, 'v', nullptr, Group::process, both, "off", "debug lines: each command and reply"},
    {nullptr, 'a', nullptr, Group::process, both, "", "print name and version to stderr, exit 0"},
    {"version", opt_version, nullptr, Group::process, both, "", "print name and version to stdout, exit 0"},
    {"help", 'h', nullptr, Group::process, both, "", "print this help to stdout, exit 0"},
    {"gateway", opt_gateway, "A.B.C.D", Group::dpdk, dpdk_only, "none",
     "next hop for addresses outside --ip's subnet"},
    {"poll", opt_poll, "adaptive|busy", Group::dpdk, dpdk_only, "adaptive",
     "busy: poll without pause (a core of its own); adaptive: sleep when idle"},
    {"poll-idle-us", opt_poll_idle_us, "US", Group::dpdk, dpdk_only, "100",
     "adaptive polling: microseconds without work before the loop sleeps"},
    {"min-mss", opt_min_mss, "N", Group::dpdk, dpdk_only, "536",
     "a peer's smaller MSS is raised to this (at least 48)"},
    {"tcb-capacity", opt_tcb_capacity, "N", Group::dpdk, dpdk_only, "the port's default",
     "size of the preallocated TCB pool"},
    {"sink", opt_sink, nullptr, Group::test, both, "off",
     "accept every message and discard it (like Postfix's smtp-sink): no disk"},
    {"fixed-isn", opt_fixed_isn, nullptr, Group::test, dpdk_only, "off",
     "initial sequence numbers a pure function of the 4-tuple (replayable pcaps)"},
};

bool applies(const OptionSpec& spec, Build build) {
    return spec.builds == both || build == Build::dpdk;
}

// getopt_long's view of the table, terminated by a zero entry.
const std::vector<option>& long_options() {
    static const std::vector<option> table = [] {
        std::vector<option> t;
        for (const OptionSpec& s : option_specs)
            if (s.name) t.push_back({s.name, s.arg ? required_argument : no_argument, nullptr, s.id});
        t.push_back({nullptr, 0, nullptr, 0});
        return t;
    }();
    return table;
}

// ":d:vah": the short options, after the ':' that makes a missing argument ':'.
const std::string& short_options() {
    static const std::string text = [] {
        std::string t = ":";
        for (const OptionSpec& s : option_specs)
            if (s.id < 256) t += std::string(1, char(s.id)) + (s.arg ? ":" : "");
        return t;
    }();
    return text;
}

// "-d, --mail-dir DIR", "--users FILE", "-v".
std::string flags(const OptionSpec& s) {
    std::string text;
    if (s.id < 256) text = std::string("-") + char(s.id);
    if (s.name) text += (text.empty() ? "--" : ", --") + std::string(s.name);
    if (s.arg) text += std::string(" ") + s.arg;
    return text;
}

const char* group_title(Group g) {
    switch (g) {
    case Group::mail: return "Mail and users";
    case Group::services: return "Services";
    case Group::relay: return "Relay (outbound mail)";
    case Group::limits: return "Limits and timeouts";
    case Group::process: return "Logging and process";
    case Group::dpdk: return "DPDK stack (baremail only)";
    case Group::test: return "Test and benchmark";
    }
    return "";
}

std::string option_name(int id) {
    if (id == 'd') return "-d/--mail-dir";
    for (const OptionSpec& s : option_specs)
        if (s.name && s.id == id) return std::string("--") + s.name;
    return "option";
}

// Seconds, with an optional unit as in Postfix's time values (s, m, h, d;
// a bare number is seconds, as in every other option here).
std::int64_t duration(const char* text, int id, std::int64_t min) {
    std::string_view s(text);
    std::int64_t unit = 1;
    if (!s.empty()) {
        switch (s.back()) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: unit = 0;
        }
        if (unit) s.remove_suffix(1);
        else unit = 1;
    }
    constexpr std::int64_t max = 10LL * 365 * 86400;  // ten years: beyond any queue
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || value < 0 || value > max / unit ||
        value * unit < min)
        throw UsageError(option_name(id) + ": '" + std::string(text) + "' is not a time from " +
                         std::to_string(min) + "s to 3650d (N, Ns, Nm, Nh or Nd)");
    return value * unit;
}

template <typename T>
T number(const char* text, int id, T min, T max = std::numeric_limits<T>::max()) {
    std::string_view s(text);
    unsigned long long value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || value < min || value > max)
        throw UsageError(option_name(id) + ": '" + std::string(s) + "' is not a number from " +
                         std::to_string(min) + " to " + std::to_string(max));
    return T(value);
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

void add_unique(std::vector<std::string>& list, std::string value) {
    if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

void parse_ip(Options& o, const std::string& text, Build build) {
    std::size_t slash = text.find('/');
    std::string address = text.substr(0, slash);
    if (!parse_ipv4(address)) throw UsageError("--ip: '" + text + "' is not an IPv4 address");
    o.ip = address;
    if (slash != std::string::npos) {
        if (build == Build::kernel) throw UsageError("--ip: the kernel build takes an address without /prefix");
        o.prefix_len = number<std::uint8_t>(text.c_str() + slash + 1, opt_ip, 1, 32);
    }
}

void require_dpdk(int id, Build build) {
    if (build != Build::dpdk)
        throw UsageError(option_name(id) + " applies only to the DPDK build (baremail)");
}

void apply(Options& o, int id, const char* arg, Build build) {
    switch (id) {
    case 'd': o.mail_dir = arg; break;
    case 'v': o.verbose = true; break;
    case 'a': o.about = true; break;
    case opt_users: o.users_file = arg; break;
    case opt_aliases: o.aliases_file = arg; break;
    case opt_max_hops: o.max_hops = number<std::uint32_t>(arg, id, 1); break;
    case opt_max_errors: o.max_errors = number<std::uint32_t>(arg, id, 0); break;
    case opt_smtp_port: o.smtp_port = number<std::uint16_t>(arg, id, 0); break;
    case opt_pop3_port: o.pop3_port = number<std::uint16_t>(arg, id, 0); break;
    case opt_echo_port: o.echo_port = number<std::uint16_t>(arg, id, 0); break;
    case opt_hostname:
        if (!*arg) throw UsageError("--hostname: empty name");
        o.hostname = arg;
        break;
    case opt_local_domain: add_unique(o.local_domains, lower(arg)); break;
    case opt_relay_from: {
        auto cidr = Cidr::parse(arg);
        if (!cidr) throw UsageError(std::string("--relay-from: '") + arg + "' is not an IPv4 CIDR");
        o.relay_from.push_back(*cidr);
        break;
    }
    case opt_queue_dir: o.queue_dir = arg; break;
    case opt_relayhost:
        if (!parse_relayhost(arg))
            throw UsageError(std::string("--relayhost: '") + arg + "' is not HOST[:PORT]");
        o.relayhost = arg;
        break;
    case opt_dns:
        if (!parse_ipv4(arg)) throw UsageError(std::string("--dns: '") + arg + "' is not an IPv4 address");
        o.dns = arg;
        break;
    case opt_retry_delay: o.retry_delay = number<std::uint32_t>(arg, id, 1); break;
    case opt_max_attempts: o.max_attempts = number<std::uint32_t>(arg, id, 1); break;
    case opt_max_queue_lifetime: o.max_queue_lifetime = duration(arg, id, 1); break;
    case opt_max_retry_delay: o.max_retry_delay = duration(arg, id, 1); break;
    case opt_delay_warning: o.delay_warning = duration(arg, id, 0); break;
    case opt_relay_timeout: o.relay_timeout = number<std::uint32_t>(arg, id, 1); break;
    case opt_max_conn: o.max_conn = number<std::uint32_t>(arg, id, 1, 1u << 20); break;
    case opt_max_conn_per_ip: o.max_conn_per_ip = number<std::uint32_t>(arg, id, 0, 1u << 20); break;
    case opt_max_conn_rate_per_ip:
        o.max_conn_rate_per_ip = number<std::uint32_t>(arg, id, 0, 1u << 24);
        break;
    case opt_max_msg_size: o.max_msg_size = number<std::uint64_t>(arg, id, 1); break;
    case opt_max_spool: o.max_spool = number<std::uint64_t>(arg, id, 1); break;
    case opt_min_mss:  // 48: the floor Linux allows for tcp_min_snd_mss
        require_dpdk(id, build);
        o.min_mss = number<std::uint16_t>(arg, id, 48);
        break;
    case opt_idle_timeout: o.idle_timeout = number<std::uint32_t>(arg, id, 1); break;
    case opt_smtp_idle_timeout: o.smtp_idle_timeout = number<std::uint32_t>(arg, id, 1); break;
    case opt_pop3_idle_timeout: o.pop3_idle_timeout = number<std::uint32_t>(arg, id, 1); break;
    case opt_send_timeout: o.send_timeout = number<std::uint32_t>(arg, id, 1); break;
    case opt_log: o.log_file = arg; break;
    case opt_daemon: o.daemon = true; break;
    case opt_pid_file: o.pid_file = arg; break;
    case opt_user:
        if (!*arg) throw UsageError("--user: empty name");
        o.user = arg;
        break;
    case opt_header_fill:
        if (std::string_view(arg) == "all") o.header_fill = true;
        else if (std::string_view(arg) == "none") o.header_fill = false;
        else throw UsageError(std::string("--header-fill: '") + arg + "' is not 'all' or 'none'");
        break;
    case opt_sink: o.sink = true; break;
    case opt_fixed_isn: require_dpdk(id, build); o.fixed_isn = true; break;
    case opt_tcb_capacity:
        require_dpdk(id, build);
        o.tcb_capacity = number<std::uint32_t>(arg, id, 1, 1u << 24);
        break;
    case opt_ip: parse_ip(o, arg, build); break;
    case opt_gateway:
        require_dpdk(id, build);
        if (!parse_ipv4(arg)) throw UsageError(std::string("--gateway: '") + arg + "' is not an IPv4 address");
        o.gateway = arg;
        break;
    case opt_poll:
        require_dpdk(id, build);
        if (std::string_view(arg) == "busy") o.busy_poll = true;
        else if (std::string_view(arg) == "adaptive") o.busy_poll = false;
        else throw UsageError(std::string("--poll: '") + arg + "' is not 'adaptive' or 'busy'");
        break;
    case opt_poll_idle_us:
        require_dpdk(id, build);
        o.poll_idle_us = number<std::uint32_t>(arg, id, 0, 1'000'000);
        break;
    case 'h': o.help = true; break;
    case opt_version: o.version = true; break;
    default: throw UsageError("unknown option; try --help");
    }
}

void fill_defaults(Options& o, Build build) {
    if (o.about || o.help || o.version) return;
    if (o.mail_dir.empty()) throw UsageError("-d/--mail-dir DIR is required");
    if (o.queue_dir.empty()) o.queue_dir = o.mail_dir + "/.queue";
    if (o.relay_from.empty()) o.relay_from.push_back(*Cidr::parse("127.0.0.0/8"));
    add_unique(o.local_domains, lower(o.hostname));
    add_unique(o.local_domains, "localhost");
    if (o.ip.empty()) o.ip = build == Build::dpdk ? "10.99.0.1" : "0.0.0.0";
    if (o.daemon && o.log_file.empty())
        throw UsageError("--daemon needs --log FILE (a daemon has no stderr)");
}

}  // namespace

Options parse_options(int argc, char** argv, Build build) {
    Options o;
    optind = 0;  // glibc: 0 starts afresh; 1 may go on inside the last word a previous parse read
    opterr = 0;  // we report errors ourselves, in one line
    for (;;) {
        int index = 0;
        // The leading ':' makes a missing argument ':' rather than '?', so
        // it is named by the word the user typed, not by the option's id.
        int id = getopt_long(argc, argv, short_options().c_str(), long_options().data(), &index);
        if (id == -1) break;
        if (id == '?') {
            std::string what = optopt ? std::string("-") + char(optopt) : std::string(argv[optind - 1]);
            throw UsageError("unknown option or missing argument: " + what + " (try --help)");
        }
        if (id == ':') throw UsageError(std::string("missing argument for ") + argv[optind - 1]);
        apply(o, id, optarg, build);
    }
    if (optind < argc) throw UsageError(std::string("unexpected argument: ") + argv[optind]);
    fill_defaults(o, build);
    return o;
}

std::string usage(Build build) {
    const bool dpdk = build == Build::dpdk;
    std::string text = dpdk ? "usage: baremail [EAL options] -- -d DIR [options]\n"
                              "       (no EAL options: a TAP port bm0, --no-huge; see SPEC and dpdk's EAL docs)\n"
                            : "usage: baremail-kernel -d DIR [options]\n";
    for (Group g : {Group::mail, Group::services, Group::relay, Group::limits, Group::process, Group::dpdk,
                    Group::test}) {
        std::string lines;
        for (const OptionSpec& s : option_specs) {
            if (s.group != g || !applies(s, build)) continue;
            std::string left = "  " + flags(s);
            left.resize(std::max<std::size_t>(left.size() + 1, 32), ' ');
            lines += left + s.meaning;
            if (*s.default_text) lines += std::string(" [default: ") + s.default_text + "]";
            lines += "\n";
        }
        if (!lines.empty()) text += std::string("\n") + group_title(g) + ":\n" + lines;
    }
    text += "\nSignals: HUP reopens the log and re-reads the users and aliases files; USR1 prints\n"
            "the counters on stderr; TERM and INT stop the server; others are ignored.\n";
    return text;
}

std::vector<std::string> option_words() {
    std::vector<std::string> words;
    for (const OptionSpec& s : option_specs)
        words.push_back(s.name ? std::string("--") + s.name : std::string("-") + char(s.id));
    return words;
}

apps::SmtpConfig smtp_config(const Options& o, const std::string& instance_tag) {
    apps::SmtpConfig c;
    c.hostname = o.hostname;
    c.local_domains = o.local_domains;
    c.max_message_size = o.max_msg_size;
    c.header_fill = o.header_fill;
    c.instance_tag = instance_tag;
    c.max_hops = o.max_hops;
    c.max_errors = o.max_errors;
    c.aliases = o.aliases ? o.aliases : std::make_shared<apps::AliasBook>(store::load_aliases(o.aliases_file));
    return c;
}

apps::Pop3Config pop3_config(const Options& o, const std::string& instance_tag) {
    apps::Pop3Config c;
    c.hostname = o.hostname;
    c.instance_tag = instance_tag;
    return c;
}

apps::HostConfig host_config(const Options& o, const std::string& instance_tag) {
    apps::HostConfig c;
    c.smtp = smtp_config(o, instance_tag);
    c.pop3 = pop3_config(o, instance_tag);
    c.may_relay = [relay_from = o.relay_from](std::uint32_t ip) {
        for (const Cidr& cidr : relay_from)
            if (cidr.contains(ip)) return true;
        return false;
    };
    c.client_limits.max_connections = o.max_conn_per_ip;
    c.client_limits.max_rate = o.max_conn_rate_per_ip;
    return c;
}

std::string instance_tag() {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lX%X", static_cast<unsigned long>(std::time(nullptr)), unsigned(getpid()));
    return buf;
}

}  // namespace bm
