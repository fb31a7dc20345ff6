#include "dataplane/common/options.hpp"

#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <limits>

#include "apps/relay/route.hpp"

namespace bm {
namespace {

enum LongOnly : int {
    opt_users = 256, opt_smtp_port, opt_pop3_port, opt_echo_port, opt_hostname,
    opt_local_domain, opt_relay_from, opt_queue_dir, opt_relayhost, opt_dns,
    opt_retry_delay, opt_max_attempts, opt_max_conn, opt_max_msg_size,
    opt_idle_timeout, opt_log, opt_daemon, opt_pid_file, opt_header_fill,
    opt_sink, opt_fixed_isn, opt_tcb_capacity, opt_ip, opt_gateway, opt_help,
    opt_relay_timeout, opt_poll, opt_poll_idle_us, opt_max_spool, opt_min_mss,
};

const option long_options[] = {
    {"mail-dir", required_argument, nullptr, 'd'},
    {"users", required_argument, nullptr, opt_users},
    {"smtp-port", required_argument, nullptr, opt_smtp_port},
    {"pop3-port", required_argument, nullptr, opt_pop3_port},
    {"echo-port", required_argument, nullptr, opt_echo_port},
    {"hostname", required_argument, nullptr, opt_hostname},
    {"local-domain", required_argument, nullptr, opt_local_domain},
    {"relay-from", required_argument, nullptr, opt_relay_from},
    {"queue-dir", required_argument, nullptr, opt_queue_dir},
    {"relayhost", required_argument, nullptr, opt_relayhost},
    {"dns", required_argument, nullptr, opt_dns},
    {"retry-delay", required_argument, nullptr, opt_retry_delay},
    {"max-attempts", required_argument, nullptr, opt_max_attempts},
    {"relay-timeout", required_argument, nullptr, opt_relay_timeout},
    {"max-conn", required_argument, nullptr, opt_max_conn},
    {"max-msg-size", required_argument, nullptr, opt_max_msg_size},
    {"max-spool", required_argument, nullptr, opt_max_spool},
    {"min-mss", required_argument, nullptr, opt_min_mss},
    {"idle-timeout", required_argument, nullptr, opt_idle_timeout},
    {"log", required_argument, nullptr, opt_log},
    {"daemon", no_argument, nullptr, opt_daemon},
    {"pid-file", required_argument, nullptr, opt_pid_file},
    {"header-fill", required_argument, nullptr, opt_header_fill},
    {"sink", no_argument, nullptr, opt_sink},
    {"fixed-isn", no_argument, nullptr, opt_fixed_isn},
    {"tcb-capacity", required_argument, nullptr, opt_tcb_capacity},
    {"ip", required_argument, nullptr, opt_ip},
    {"gateway", required_argument, nullptr, opt_gateway},
    {"poll", required_argument, nullptr, opt_poll},
    {"poll-idle-us", required_argument, nullptr, opt_poll_idle_us},
    {"help", no_argument, nullptr, opt_help},
    {nullptr, 0, nullptr, 0},
};

std::string option_name(int id) {
    if (id == 'd') return "-d/--mail-dir";
    for (const option& o : long_options)
        if (o.name && o.val == id) return std::string("--") + o.name;
    return "option";
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
    case opt_relay_timeout: o.relay_timeout = number<std::uint32_t>(arg, id, 1); break;
    case opt_max_conn: o.max_conn = number<std::uint32_t>(arg, id, 1, 1u << 20); break;
    case opt_max_msg_size: o.max_msg_size = number<std::uint64_t>(arg, id, 1); break;
    case opt_max_spool: o.max_spool = number<std::uint64_t>(arg, id, 1); break;
    case opt_min_mss:  // 48: the floor Linux allows for tcp_min_snd_mss
        require_dpdk(id, build);
        o.min_mss = number<std::uint16_t>(arg, id, 48);
        break;
    case opt_idle_timeout: o.idle_timeout = number<std::uint32_t>(arg, id, 1); break;
    case opt_log: o.log_file = arg; break;
    case opt_daemon: o.daemon = true; break;
    case opt_pid_file: o.pid_file = arg; break;
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
    case opt_help: throw UsageError(usage(build));
    default: throw UsageError("unknown option; try --help");
    }
}

void fill_defaults(Options& o, Build build) {
    if (o.about) return;
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
        int id = getopt_long(argc, argv, ":d:va", long_options, &index);
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
    std::string name = build == Build::dpdk ? "baremail [EAL options] --" : "baremail-kernel";
    return "usage: " + name +
           " -d DIR [--users FILE] [--smtp-port N] [--pop3-port N] [--echo-port N]"
           " [--hostname NAME] [--local-domain D]... [--relay-from CIDR]... [--queue-dir DIR]"
           " [--relayhost HOST[:PORT]] [--dns IP] [--retry-delay S] [--max-attempts N]"
           " [--relay-timeout S]"
           " [--max-conn N] [--max-msg-size B] [--max-spool B] [--idle-timeout S] [--log FILE] [--daemon]"
           " [--pid-file F] [--header-fill all|none] [--sink] [--ip A.B.C.D]" +
           std::string(build == Build::dpdk ? " [--min-mss N]" : "") + " [-v] [-a]";
}

apps::SmtpConfig smtp_config(const Options& o, const std::string& instance_tag) {
    apps::SmtpConfig c;
    c.hostname = o.hostname;
    c.local_domains = o.local_domains;
    c.max_message_size = o.max_msg_size;
    c.header_fill = o.header_fill;
    c.instance_tag = instance_tag;
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
    return c;
}

std::string instance_tag() {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lX%X", static_cast<unsigned long>(std::time(nullptr)), unsigned(getpid()));
    return buf;
}

}  // namespace bm
