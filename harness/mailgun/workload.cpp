#include "harness/mailgun/workload.hpp"

#include <getopt.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "dataplane/common/cidr.hpp"

namespace bm::mailgun {

namespace {

enum Id {
    opt_server = 256, opt_protocol, opt_sessions, opt_messages, opt_duration, opt_size,
    opt_per_connection, opt_pipelining, opt_rcpt, opt_from, opt_helo, opt_user, opt_password,
    opt_timeout, opt_time_limit, opt_json, opt_transport, opt_replay, opt_speed, opt_afap,
    opt_port_map, opt_print_script, opt_ip, opt_gateway, opt_poll, opt_quiet, opt_help,
};

const option long_options[] = {
    {"server", required_argument, nullptr, opt_server},
    {"protocol", required_argument, nullptr, opt_protocol},
    {"sessions", required_argument, nullptr, opt_sessions},
    {"messages", required_argument, nullptr, opt_messages},
    {"duration", required_argument, nullptr, opt_duration},
    {"size", required_argument, nullptr, opt_size},
    {"per-connection", required_argument, nullptr, opt_per_connection},
    {"pipelining", no_argument, nullptr, opt_pipelining},
    {"rcpt", required_argument, nullptr, opt_rcpt},
    {"from", required_argument, nullptr, opt_from},
    {"helo", required_argument, nullptr, opt_helo},
    {"user", required_argument, nullptr, opt_user},
    {"password", required_argument, nullptr, opt_password},
    {"timeout", required_argument, nullptr, opt_timeout},
    {"time-limit", required_argument, nullptr, opt_time_limit},
    {"json", required_argument, nullptr, opt_json},
    {"transport", required_argument, nullptr, opt_transport},
    {"replay", required_argument, nullptr, opt_replay},
    {"speed", required_argument, nullptr, opt_speed},
    {"as-fast-as-possible", no_argument, nullptr, opt_afap},
    {"port-map", required_argument, nullptr, opt_port_map},
    {"print-script", no_argument, nullptr, opt_print_script},
    {"ip", required_argument, nullptr, opt_ip},
    {"gateway", required_argument, nullptr, opt_gateway},
    {"poll", required_argument, nullptr, opt_poll},
    {"quiet", no_argument, nullptr, opt_quiet},
    {"help", no_argument, nullptr, opt_help},
    {nullptr, 0, nullptr, 0},
};

std::string option_name(int id) {
    for (const option& o : long_options)
        if (o.name && o.val == id) return std::string("--") + o.name;
    return "?";
}

template <typename T>
T integer(std::string_view s, int id, T min, T max = std::numeric_limits<T>::max()) {
    unsigned long long value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || value < min || value > max)
        throw UsageError(option_name(id) + ": '" + std::string(s) + "' is not a number from " +
                         std::to_string(min) + " to " + std::to_string(max));
    return static_cast<T>(value);
}

double seconds(std::string_view s, int id, double min) {
    double value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(value) || value < min)
        throw UsageError(option_name(id) + ": '" + std::string(s) + "' is not a number >= " +
                         std::to_string(min));
    return value;
}

std::uint32_t address(std::string_view s, int id) {
    auto ip = parse_ipv4(s);
    if (!ip) throw UsageError(option_name(id) + ": '" + std::string(s) + "' is not an IPv4 address");
    return *ip;
}

void parse_server(Workload& w, std::string_view text) {
    std::size_t colon = text.find(':');
    w.server_ip = address(text.substr(0, colon), opt_server);
    if (colon != std::string_view::npos)
        w.server_port = integer<std::uint16_t>(text.substr(colon + 1), opt_server, 1);
}

void parse_local_ip(Workload& w, std::string_view text) {
    std::size_t slash = text.find('/');
    w.local_ip = address(text.substr(0, slash), opt_ip);
    if (slash != std::string_view::npos)
        w.prefix_len = integer<std::uint8_t>(text.substr(slash + 1), opt_ip, 1, 32);
}

void parse_port_map(Workload& w, std::string_view text) {
    std::size_t eq = text.find('=');
    if (eq == std::string_view::npos) throw UsageError("--port-map: '" + std::string(text) + "' is not CAPTURED=LIVE");
    w.port_map.emplace_back(integer<std::uint16_t>(text.substr(0, eq), opt_port_map, 1),
                            integer<std::uint16_t>(text.substr(eq + 1), opt_port_map, 1));
}

void apply(Workload& w, int id, std::string_view arg) {
    switch (id) {
    case opt_server: parse_server(w, arg); break;
    case opt_protocol:
        if (arg == "smtp") w.protocol = Protocol::smtp;
        else if (arg == "pop3") w.protocol = Protocol::pop3;
        else throw UsageError("--protocol: '" + std::string(arg) + "' is not smtp or pop3");
        break;
    case opt_sessions: w.sessions = integer<std::uint32_t>(arg, id, 1, 1u << 20); break;
    case opt_messages: w.messages = integer<std::uint64_t>(arg, id, 1); break;
    case opt_duration: w.duration_s = seconds(arg, id, 0.001); break;
    case opt_size: w.size = integer<std::uint64_t>(arg, id, 0, std::uint64_t{1} << 30); break;
    case opt_per_connection: w.per_connection = integer<std::uint32_t>(arg, id, 1); break;
    case opt_pipelining: w.pipelining = true; break;
    case opt_rcpt: w.rcpt = AddressPattern::parse(arg, "--rcpt"); break;
    case opt_from: w.sender = std::string(arg); break;
    case opt_helo:
        if (arg.empty()) throw UsageError("--helo: empty name");
        w.helo = std::string(arg);
        break;
    case opt_user: w.user = AddressPattern::parse(arg, "--user"); break;
    case opt_password: w.password = AddressPattern::parse(arg, "--password"); break;
    case opt_timeout: w.timeout_s = seconds(arg, id, 0.001); break;
    case opt_time_limit: w.time_limit_s = seconds(arg, id, 0.001); break;
    case opt_json: w.json_path = std::string(arg); break;
    case opt_transport:
        if (arg == "kernel") w.transport = TransportKind::kernel;
        else if (arg == "dpdk") w.transport = TransportKind::dpdk;
        else throw UsageError("--transport: '" + std::string(arg) + "' is not kernel or dpdk");
        break;
    case opt_replay: w.replay_path = std::string(arg); break;
    case opt_speed: w.speed = seconds(arg, id, 1e-6); break;
    case opt_afap: w.as_fast_as_possible = true; break;
    case opt_port_map: parse_port_map(w, arg); break;
    case opt_print_script: w.print_script = true; break;
    case opt_ip: parse_local_ip(w, arg); break;
    case opt_gateway: w.gateway = address(arg, id); break;
    case opt_poll:
        if (arg == "busy") w.busy_poll = true;
        else if (arg == "adaptive") w.busy_poll = false;
        else throw UsageError("--poll: '" + std::string(arg) + "' is not busy or adaptive");
        break;
    case opt_quiet: w.quiet = true; break;
    case opt_help: throw UsageError(usage());
    default: throw UsageError("unknown option; try --help");
    }
}

// Every run is bounded: without --time-limit, a --duration run ends at most
// a reply timeout and a little after its duration; a --messages run after
// ten minutes whatever the server does.
void fill_defaults(Workload& w, bool sessions_given) {
    if (w.server_ip == 0) throw UsageError("--server IP[:PORT] is required");
    if (w.messages && w.duration_s > 0) throw UsageError("--messages and --duration exclude each other");
    if (w.replay()) {
        if (!sessions_given) w.sessions = 0;
        if (w.as_fast_as_possible) w.speed = 0;
    } else {
        if (w.messages == 0 && w.duration_s == 0) w.messages = 100;
        if (w.server_port == 0) w.server_port = w.default_port();
        if (w.protocol == Protocol::smtp && w.rcpt.empty())
            throw UsageError("--rcpt ADDR (or a pattern such as user{0..9}@localhost) is required for SMTP");
        if (w.protocol == Protocol::pop3 && (w.user.empty() || w.password.empty()))
            throw UsageError("--user and --password are required for POP3");
    }
    if (w.time_limit_s == 0) w.time_limit_s = w.duration_s > 0 ? w.duration_s + w.timeout_s + 5 : 600;
    if (w.transport == TransportKind::dpdk && w.local_ip == 0)
        throw UsageError("--transport dpdk needs --ip A.B.C.D[/NN], the generator's own address");
}

}  // namespace

AddressPattern AddressPattern::parse(std::string_view text, std::string_view option) {
    AddressPattern p;
    std::size_t open = text.find('{');
    if (open == std::string_view::npos) {
        p.prefix_ = std::string(text);
        return p;
    }
    std::size_t dots = text.find("..", open);
    std::size_t close = text.find('}', open);
    auto bad = [&] {
        return UsageError(std::string(option) + ": '" + std::string(text) + "' is not TEXT{FIRST..LAST}TEXT");
    };
    if (dots == std::string_view::npos || close == std::string_view::npos || dots > close) throw bad();
    std::uint64_t first = 0, last = 0;
    std::string_view a = text.substr(open + 1, dots - open - 1), b = text.substr(dots + 2, close - dots - 2);
    if (std::from_chars(a.data(), a.data() + a.size(), first).ptr != a.data() + a.size() || a.empty() ||
        std::from_chars(b.data(), b.data() + b.size(), last).ptr != b.data() + b.size() || b.empty() ||
        last < first)
        throw bad();
    p.prefix_ = std::string(text.substr(0, open));
    p.suffix_ = std::string(text.substr(close + 1));
    p.first_ = first;
    p.count_ = last - first + 1;
    p.ranged_ = true;
    return p;
}

std::string AddressPattern::at(std::uint64_t index) const {
    if (!ranged_) return prefix_;
    return prefix_ + std::to_string(first_ + index % count_) + suffix_;
}

Workload parse_workload(int argc, char** argv) {
    Workload w;
    bool sessions_given = false;
    optind = 1;
    opterr = 0;
    for (;;) {
        int index = 0;
        int id = getopt_long(argc, argv, "", long_options, &index);
        if (id == -1) break;
        if (id == '?') throw UsageError(std::string("unknown option or missing argument: ") + argv[optind - 1] +
                                        " (try --help)");
        if (id == opt_sessions) sessions_given = true;
        apply(w, id, optarg ? std::string_view(optarg) : std::string_view());
    }
    if (optind < argc) throw UsageError(std::string("unexpected argument: ") + argv[optind]);
    fill_defaults(w, sessions_given);
    return w;
}

std::string usage() {
    return "usage: mailgun [EAL options --] --server IP[:PORT] [options]\n"
           "  load:   [--protocol smtp|pop3] [--sessions C] [--messages N | --duration S]\n"
           "          [--size B] [--per-connection K] [--pipelining] [--rcpt ADDR|PATTERN]\n"
           "          [--from ADDR] [--helo NAME] [--user NAME|PATTERN --password PW|PATTERN]\n"
           "  replay: --replay FILE.pcap [--speed X | --as-fast-as-possible] [--sessions C]\n"
           "          [--port-map CAPTURED=LIVE]... [--print-script]\n"
           "  all:    [--timeout S] [--time-limit S] [--json FILE] [--quiet]\n"
           "          [--transport kernel|dpdk]\n"
           "  dpdk:   --ip A.B.C.D/NN [--gateway A.B.C.D] [--poll adaptive|busy]\n"
           "  PATTERN: TEXT{FIRST..LAST}TEXT, e.g. user{0..99}@localhost; --user/--password\n"
           "  patterns are taken at the same index (one per concurrent connection).\n"
           "  Defaults: port 2500 (smtp) / 11000 (pop3), 1 session, 100 messages of 1024\n"
           "  octets, 1 per connection, --timeout 10; --time-limit duration+timeout+5 or 600.\n"
           "  Exit: 0 no errors, 1 errors counted, 2 bad usage or setup failure.";
}

}  // namespace bm::mailgun
