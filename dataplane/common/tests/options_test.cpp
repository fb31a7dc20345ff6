// SPEC "Command line": what each option sets, every rejection with the one
// line the operator sees, and (through run_program) exit code 2 for them.
#include "dataplane/common/options.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <initializer_list>
#include <string>
#include <vector>

#include "apps/aliases.hpp"
#include "dataplane/common/program.hpp"

using namespace bm;

namespace {

// An argv as main gets it. getopt keeps a pointer into the last argument
// it read and looks at it again on the next parse (see the disabled case
// below), so every argv made here stays alive until the process ends.
class Argv {
public:
    explicit Argv(std::vector<std::string> args) : strings_(std::move(args)) {
        strings_.insert(strings_.begin(), "baremail");
        for (std::string& s : strings_) pointers_.push_back(s.data());
        pointers_.push_back(nullptr);
    }
    int argc() const { return int(strings_.size()); }
    char** argv() { return pointers_.data(); }

private:
    std::vector<std::string> strings_;
    std::vector<char*> pointers_;
};

Argv& kept(std::vector<std::string> args) {
    static std::deque<Argv> all;
    return all.emplace_back(std::move(args));
}

Options parse(std::initializer_list<std::string> args, Build build = Build::kernel) {
    Argv& a = kept(args);
    return parse_options(a.argc(), a.argv(), build);
}

// The message of the UsageError the arguments give ("" if they parse).
std::string rejection(std::vector<std::string> args, Build build = Build::kernel) {
    Argv& a = kept(std::move(args));
    try {
        parse_options(a.argc(), a.argv(), build);
    } catch (const UsageError& e) {
        return e.what();
    }
    return "";
}

struct Rejected {
    std::vector<std::string> args;  // after -d DIR
    Build build;
    std::string message;
};

std::ostream& operator<<(std::ostream& out, const Rejected& r) {
    for (const std::string& a : r.args) out << a << ' ';
    return out << (r.build == Build::dpdk ? "(dpdk)" : "(kernel)");
}

}  // namespace

TEST(Options, DefaultsAreTheSpecs) {
    Options o = parse({"-d", "/srv/mail"});
    EXPECT_EQ(o.mail_dir, "/srv/mail");
    EXPECT_EQ(o.queue_dir, "/srv/mail/.queue");
    EXPECT_EQ(o.smtp_port, 2500);
    EXPECT_EQ(o.pop3_port, 11000);
    EXPECT_EQ(o.echo_port, 10000);
    EXPECT_EQ(o.hostname, "localhost");
    EXPECT_EQ(o.local_domains, std::vector<std::string>{"localhost"});
    ASSERT_EQ(o.relay_from.size(), 1u);
    EXPECT_EQ(o.relay_from[0].network, *parse_ipv4("127.0.0.0"));
    EXPECT_EQ(o.relay_from[0].prefix, 8);
    EXPECT_EQ(o.relay_timeout, 300u);
    EXPECT_EQ(o.retry_delay, 300u);
    EXPECT_EQ(o.max_attempts, 5u);
    EXPECT_EQ(o.max_conn, 4096u);
    EXPECT_EQ(o.max_conn_per_ip, 50u);        // Postfix's smtpd_client_connection_count_limit
    EXPECT_EQ(o.max_conn_rate_per_ip, 0u);    // Postfix's smtpd_client_connection_rate_limit: none
    EXPECT_EQ(o.max_msg_size, 10485760u);
    EXPECT_EQ(o.smtp_idle(), 300u);
    EXPECT_EQ(o.pop3_idle(), 600u);
    EXPECT_EQ(o.send_timeout, 300u);
    EXPECT_TRUE(o.header_fill);
    EXPECT_FALSE(o.daemon);
    EXPECT_EQ(o.ip, "0.0.0.0");
    EXPECT_EQ(parse({"-d", "m"}, Build::dpdk).ip, "10.99.0.1");
    EXPECT_EQ(parse({"-d", "m"}, Build::dpdk).prefix_len, 24);
}

TEST(Options, EachOptionSetsItsValue) {
    Options o = parse({"--mail-dir", "m", "--users", "u", "--smtp-port", "25", "--pop3-port", "0",
                       "--echo-port", "7", "--hostname", "Mail.Example", "--local-domain", "Other.Example",
                       "--local-domain", "other.example", "--relay-from", "10.0.0.0/8", "--relay-from",
                       "192.0.2.1", "--queue-dir", "q", "--relayhost", "[smart.example]:587", "--dns",
                       "192.0.2.53", "--retry-delay", "1", "--max-attempts", "2", "--relay-timeout", "3",
                       "--send-timeout", "8", "--max-conn", "4", "--max-msg-size", "5", "--idle-timeout", "6", "--log", "l",
                       "--daemon", "--pid-file", "p", "--header-fill", "none", "--sink", "-v",
                       "--ip", "127.0.0.1"});
    EXPECT_EQ(o.mail_dir, "m");
    EXPECT_EQ(o.users_file, "u");
    EXPECT_EQ(o.smtp_port, 25);
    EXPECT_EQ(o.pop3_port, 0);  // 0 disables
    EXPECT_EQ(o.echo_port, 7);
    EXPECT_EQ(o.hostname, "Mail.Example");
    // Lower-cased, once each, then the hostname and localhost.
    EXPECT_EQ(o.local_domains, (std::vector<std::string>{"other.example", "mail.example", "localhost"}));
    ASSERT_EQ(o.relay_from.size(), 2u);  // given: the 127.0.0.0/8 default is not added
    EXPECT_EQ(o.relay_from[1].prefix, 32);
    EXPECT_EQ(o.queue_dir, "q");
    EXPECT_EQ(o.relayhost, "[smart.example]:587");
    EXPECT_EQ(o.dns, "192.0.2.53");
    EXPECT_EQ(o.retry_delay, 1u);
    EXPECT_EQ(o.max_attempts, 2u);
    EXPECT_EQ(o.relay_timeout, 3u);
    EXPECT_EQ(o.send_timeout, 8u);
    EXPECT_EQ(o.max_conn, 4u);
    EXPECT_EQ(o.max_msg_size, 5u);
    EXPECT_EQ(o.smtp_idle(), 6u);
    EXPECT_EQ(o.pop3_idle(), 6u);
    EXPECT_EQ(o.log_file, "l");
    EXPECT_TRUE(o.daemon);
    EXPECT_EQ(o.pid_file, "p");
    EXPECT_FALSE(o.header_fill);
    EXPECT_TRUE(o.sink);
    EXPECT_TRUE(o.verbose);
    EXPECT_EQ(o.ip, "127.0.0.1");
}

TEST(Options, DpdkOnlyOptionsOnTheDpdkBuild) {
    Options o = parse({"-d", "m", "--ip", "10.99.3.1/16", "--gateway", "10.99.0.254", "--fixed-isn",
                       "--tcb-capacity", "1000"},
                      Build::dpdk);
    EXPECT_EQ(o.ip, "10.99.3.1");
    EXPECT_EQ(o.prefix_len, 16);
    EXPECT_EQ(o.gateway, "10.99.0.254");
    EXPECT_TRUE(o.fixed_isn);
    EXPECT_EQ(o.tcb_capacity, 1000u);
}

// Issue 11: a global spool budget (452 when spent) and the engine's floor
// for a peer's MSS (RFC 9293 §3.7.1's 536 unless lowered).
TEST(Options, SpoolBudgetAndMinimumMss) {
    Options defaults = parse({"-d", "m"}, Build::dpdk);
    EXPECT_EQ(defaults.max_spool, 1073741824u);
    EXPECT_EQ(defaults.min_mss, 536);
    Options o = parse({"-d", "m", "--max-spool", "5000000", "--min-mss", "48"}, Build::dpdk);
    EXPECT_EQ(o.max_spool, 5000000u);
    EXPECT_EQ(o.min_mss, 48);
    EXPECT_EQ(parse({"-d", "m", "--max-spool", "1"}).max_spool, 1u);
    EXPECT_EQ(store_config(o).max_spool_bytes, 5000000u);
}

TEST(Options, AboutNeedsNoMailDir) {
    EXPECT_TRUE(parse({"-a"}).about);
}

// Issue 12: SMTP and POP3 idle timeouts apart; --idle-timeout sets both, and
// a per-service one wins over it in either order.
TEST(Options, SeparateIdleTimeouts) {
    Options o = parse({"-d", "m", "--smtp-idle-timeout", "30"});
    EXPECT_EQ(o.smtp_idle(), 30u);
    EXPECT_EQ(o.pop3_idle(), 600u);
    o = parse({"-d", "m", "--pop3-idle-timeout", "40", "--idle-timeout", "9"});
    EXPECT_EQ(o.smtp_idle(), 9u);
    EXPECT_EQ(o.pop3_idle(), 40u);
    EXPECT_EQ(o.echo_idle(), 9u);
    o = parse({"-d", "m", "--idle-timeout", "9", "--smtp-idle-timeout", "1"});
    EXPECT_EQ(o.smtp_idle(), 1u);
    EXPECT_EQ(o.pop3_idle(), 9u);
    EXPECT_EQ(rejection({"-d", "m", "--smtp-idle-timeout", "0"}),
              "--smtp-idle-timeout: '0' is not a number from 1 to 4294967295");
    EXPECT_EQ(rejection({"-d", "m", "--pop3-idle-timeout", "x"}),
              "--pop3-idle-timeout: 'x' is not a number from 1 to 4294967295");
}

TEST(Options, UserToRunAs) {
    EXPECT_EQ(parse({"-d", "m"}).user, "");
    EXPECT_EQ(parse({"-d", "m", "--user", "baremail"}).user, "baremail");
    EXPECT_EQ(rejection({"-d", "m", "--user", ""}), "--user: empty name");
    EXPECT_EQ(rejection({"-d", "m", "--user"}), "missing argument for --user");
}

TEST(Options, HelpAndVersionNeedNoMailDir) {
    EXPECT_TRUE(parse({"--help"}).help);
    EXPECT_TRUE(parse({"-h"}).help);
    EXPECT_TRUE(parse({"--version"}).version);
}

// Whether the parser of this build takes the option: a value it rejects
// still means it knows the option.
bool accepts(const std::string& word, Build build) {
    std::string message = rejection({"-d", "m", word, "1"}, build);
    return message.find("applies only to") == std::string::npos &&
           message.find("unknown option") == std::string::npos;
}

// The help is made from the parser's table; this holds it to that: every
// option a build accepts is in its help, at the start of a help line, and
// the DPDK-only ones are not offered by the kernel build.
TEST(Options, HelpListsEveryOptionTheParserAccepts) {
    ASSERT_GE(option_words().size(), 35u);
    for (Build build : {Build::kernel, Build::dpdk}) {
        std::string help = usage(build);
        for (const std::string& word : option_words()) {
            bool listed = help.find("\n  " + word) != std::string::npos ||
                          help.find(", " + word) != std::string::npos;
            EXPECT_EQ(listed, accepts(word, build))
                << word << (build == Build::dpdk ? " (dpdk)" : " (kernel)");
        }
    }
    for (const char* word : {"--gateway", "--fixed-isn", "--tcb-capacity", "--poll", "--poll-idle-us",
                             "--min-mss", "--max-spool", "--smtp-idle-timeout", "--version"})
        EXPECT_NE(usage(Build::dpdk).find(word), std::string::npos) << word;
    EXPECT_EQ(usage(Build::kernel).find("--gateway"), std::string::npos);
    EXPECT_NE(usage(Build::dpdk).find("[EAL options]"), std::string::npos);
}

TEST(Options, HelpGivesEachOptionItsDefault) {
    std::string help = usage(Build::kernel);
    EXPECT_NE(help.find("--smtp-port N"), std::string::npos) << help;
    EXPECT_NE(help.find("[default: 2500]"), std::string::npos) << help;
    EXPECT_NE(help.find("[default: 600]"), std::string::npos) << help;
    EXPECT_NE(help.find("Relay (outbound mail):"), std::string::npos) << help;
}

TEST(Options, NumbersAtTheEdgesOfTheirRanges) {
    EXPECT_EQ(parse({"-d", "m", "--smtp-port", "65535"}).smtp_port, 65535);
    EXPECT_EQ(parse({"-d", "m", "--max-conn", "1048576"}).max_conn, 1048576u);
    EXPECT_EQ(parse({"-d", "m", "--max-conn-per-ip", "0"}).max_conn_per_ip, 0u);
    EXPECT_EQ(parse({"-d", "m", "--max-conn-per-ip", "7", "--max-conn-rate-per-ip", "30"}).max_conn_rate_per_ip, 30u);
    apps::HostConfig host = host_config(parse({"-d", "m", "--max-conn-per-ip", "7", "--max-conn-rate-per-ip", "30"}), "t");
    EXPECT_EQ(host.client_limits.max_connections, 7u);  // what both builds' ServiceHost counts by
    EXPECT_EQ(host.client_limits.max_rate, 30u);
    EXPECT_EQ(parse({"-d", "m", "--ip", "10.0.0.1/32"}, Build::dpdk).prefix_len, 32);
}

class OptionRejected : public ::testing::TestWithParam<Rejected> {};

TEST_P(OptionRejected, WithItsOneLineMessage) {
    const Rejected& r = GetParam();
    std::vector<std::string> args = {"-d", "m"};
    args.insert(args.end(), r.args.begin(), r.args.end());
    std::string message = rejection(args, r.build);
    EXPECT_EQ(message, r.message);
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
}

const Rejected rejections[] = {
    // SPEC/README: a daemon has no terminal to write its log to.
    {{"--daemon"}, Build::kernel, "--daemon needs --log FILE (a daemon has no stderr)"},
    {{"--daemon", "--pid-file", "p"}, Build::dpdk, "--daemon needs --log FILE (a daemon has no stderr)"},
    {{"--relay-from", "10.0.0.0/33"}, Build::kernel, "--relay-from: '10.0.0.0/33' is not an IPv4 CIDR"},
    {{"--relay-from", "example.org"}, Build::kernel, "--relay-from: 'example.org' is not an IPv4 CIDR"},
    {{"--relay-from", ""}, Build::dpdk, "--relay-from: '' is not an IPv4 CIDR"},
    {{"--relayhost", ""}, Build::kernel, "--relayhost: '' is not HOST[:PORT]"},
    {{"--relayhost", "smart.example:0"}, Build::kernel, "--relayhost: 'smart.example:0' is not HOST[:PORT]"},
    {{"--relayhost", "smart.example:99999"}, Build::kernel,
     "--relayhost: 'smart.example:99999' is not HOST[:PORT]"},
    {{"--relayhost", "smart.example:"}, Build::dpdk, "--relayhost: 'smart.example:' is not HOST[:PORT]"},
    {{"--relayhost", "[smart.example"}, Build::kernel, "--relayhost: '[smart.example' is not HOST[:PORT]"},
    {{"--dns", "dns.example"}, Build::kernel, "--dns: 'dns.example' is not an IPv4 address"},
    {{"--dns", "10.0.0.1:53"}, Build::dpdk, "--dns: '10.0.0.1:53' is not an IPv4 address"},
    {{"--ip", "10.99.0.300"}, Build::dpdk, "--ip: '10.99.0.300' is not an IPv4 address"},
    {{"--ip", "localhost"}, Build::kernel, "--ip: 'localhost' is not an IPv4 address"},
    {{"--ip", "10.99.0.1/24"}, Build::kernel, "--ip: the kernel build takes an address without /prefix"},
    {{"--ip", "10.99.0.1/33"}, Build::dpdk, "--ip: '33' is not a number from 1 to 32"},
    {{"--ip", "10.99.0.1/0"}, Build::dpdk, "--ip: '0' is not a number from 1 to 32"},
    {{"--gateway", "router"}, Build::dpdk, "--gateway: 'router' is not an IPv4 address"},
    // DPDK-only options given to the kernel build.
    {{"--gateway", "10.99.0.254"}, Build::kernel, "--gateway applies only to the DPDK build (baremail)"},
    {{"--fixed-isn"}, Build::kernel, "--fixed-isn applies only to the DPDK build (baremail)"},
    {{"--tcb-capacity", "10"}, Build::kernel, "--tcb-capacity applies only to the DPDK build (baremail)"},
    {{"--poll", "busy"}, Build::kernel, "--poll applies only to the DPDK build (baremail)"},
    {{"--poll-idle-us", "10"}, Build::kernel, "--poll-idle-us applies only to the DPDK build (baremail)"},
    {{"--tcb-capacity", "0"}, Build::dpdk, "--tcb-capacity: '0' is not a number from 1 to 16777216"},
    {{"--min-mss", "536"}, Build::kernel, "--min-mss applies only to the DPDK build (baremail)"},
    {{"--min-mss", "47"}, Build::dpdk, "--min-mss: '47' is not a number from 48 to 65535"},
    {{"--max-spool", "0"}, Build::kernel, "--max-spool: '0' is not a number from 1 to 18446744073709551615"},
    {{"--poll", "sometimes"}, Build::dpdk, "--poll: 'sometimes' is not 'adaptive' or 'busy'"},
    // Numbers: not a number, out of range, trailing junk, negative.
    {{"--smtp-port", "not-a-port"}, Build::kernel, "--smtp-port: 'not-a-port' is not a number from 0 to 65535"},
    {{"--pop3-port", "65536"}, Build::kernel, "--pop3-port: '65536' is not a number from 0 to 65535"},
    {{"--echo-port", "-1"}, Build::kernel, "--echo-port: '-1' is not a number from 0 to 65535"},
    {{"--retry-delay", "0"}, Build::kernel, "--retry-delay: '0' is not a number from 1 to 4294967295"},
    {{"--max-attempts", "3x"}, Build::kernel, "--max-attempts: '3x' is not a number from 1 to 4294967295"},
    {{"--max-queue-lifetime", "5x"}, Build::kernel,
     "--max-queue-lifetime: '5x' is not a time from 1s to 3650d (N, Ns, Nm, Nh or Nd)"},
    {{"--max-queue-lifetime", "0"}, Build::dpdk,
     "--max-queue-lifetime: '0' is not a time from 1s to 3650d (N, Ns, Nm, Nh or Nd)"},
    {{"--max-retry-delay", "d"}, Build::kernel,
     "--max-retry-delay: 'd' is not a time from 1s to 3650d (N, Ns, Nm, Nh or Nd)"},
    {{"--delay-warning", "-1h"}, Build::kernel,
     "--delay-warning: '-1h' is not a time from 0s to 3650d (N, Ns, Nm, Nh or Nd)"},
    {{"--delay-warning", "3651d"}, Build::dpdk,
     "--delay-warning: '3651d' is not a time from 0s to 3650d (N, Ns, Nm, Nh or Nd)"},
    {{"--relay-timeout", "0"}, Build::kernel, "--relay-timeout: '0' is not a number from 1 to 4294967295"},
    {{"--send-timeout", "0"}, Build::kernel, "--send-timeout: '0' is not a number from 1 to 4294967295"},
    {{"--send-timeout", "3s"}, Build::dpdk, "--send-timeout: '3s' is not a number from 1 to 4294967295"},
    {{"--max-conn", "1048577"}, Build::kernel, "--max-conn: '1048577' is not a number from 1 to 1048576"},
    {{"--max-conn-per-ip", "-1"}, Build::kernel, "--max-conn-per-ip: '-1' is not a number from 0 to 1048576"},
    {{"--max-conn-per-ip", "1048577"}, Build::dpdk,
     "--max-conn-per-ip: '1048577' is not a number from 0 to 1048576"},
    {{"--max-conn-rate-per-ip", "x"}, Build::kernel,
     "--max-conn-rate-per-ip: 'x' is not a number from 0 to 16777216"},
    {{"--max-msg-size", ""}, Build::kernel,
     "--max-msg-size: '' is not a number from 1 to 18446744073709551615"},
    {{"--idle-timeout", "4294967296"}, Build::kernel,
     "--idle-timeout: '4294967296' is not a number from 1 to 4294967295"},
    {{"--header-fill", "some"}, Build::kernel, "--header-fill: 'some' is not 'all' or 'none'"},
    {{"--hostname", ""}, Build::kernel, "--hostname: empty name"},
    {{"--no-such-option"}, Build::kernel, "unknown option or missing argument: --no-such-option (try --help)"},
    {{"stray"}, Build::kernel, "unexpected argument: stray"},
};

INSTANTIATE_TEST_SUITE_P(Every, OptionRejected, ::testing::ValuesIn(rejections));

TEST(Options, MailDirIsRequired) {
    EXPECT_EQ(rejection({"--smtp-port", "25"}), "-d/--mail-dir DIR is required");
    EXPECT_EQ(rejection({}), "-d/--mail-dir DIR is required");
}

TEST(Options, ShortOptionWithoutItsArgumentIsNamed) {
    EXPECT_EQ(rejection({"-d"}), "missing argument for -d");
}

TEST(Options, ParsingTwiceStartsAfresh) {
    EXPECT_EQ(rejection({"-d", "m", "--bogus"}), "unknown option or missing argument: --bogus (try --help)");
    EXPECT_EQ(parse({"-d", "m", "--smtp-port", "26"}).smtp_port, 26);
}

// A long option without its argument is named as typed (it was once
// reported by its internal id as a character: a NUL for --users).
TEST(Options, LongOptionWithoutItsArgumentIsNamed) {
    EXPECT_EQ(rejection({"-d", "m", "--users"}), "missing argument for --users");
    EXPECT_NE(rejection({"-d", "m", "--relayhost"}).find("--relayhost"), std::string::npos);
}

// glibc takes optind = 0, not 1, as "start afresh": with 1 the next parse
// went on inside the last argument the previous one read.
TEST(Options, ASecondParseDoesNotReadTheFirstOnesLastArgument) {
    static std::string last;  // getopt keeps pointing into it after the test
    last = "-v";
    char first[] = "baremail";
    char dash_d[] = "-d";
    char dir[] = "m";
    char* argv1[] = {first, dash_d, dir, last.data(), nullptr};
    EXPECT_TRUE(parse_options(4, argv1, Build::kernel).verbose);
    last = "-va";  // where getopt's pointer stood, an 'a' now
    EXPECT_FALSE(parse({"-d", "m"}).about);
}

// ---- through run_program: what the process does with it ------------------

namespace {

struct Outcome {
    int code;
    std::string stderr_text;
    bool served;
    std::string stdout_text;
};

Outcome run(std::initializer_list<std::string> args, Build build,
            const std::function<int(const Options&)>& serve = [](const Options&) { return 0; }) {
    Argv& a = kept(args);
    Program program{build == Build::dpdk ? "baremail" : "baremail-kernel", "test build", build};
    bool served = false;
    ::testing::internal::CaptureStderr();
    ::testing::internal::CaptureStdout();
    int code = run_program(program, a.argc(), a.argv(), [&](const Options& o) {
        served = true;
        return serve(o);
    });
    std::string out = ::testing::internal::GetCapturedStdout();
    return {code, ::testing::internal::GetCapturedStderr(), served, out};
}

}  // namespace

TEST(Program, SpecBadOptionsGiveOneLineNamingTheProgramAndExitCode2) {
    Outcome o = run({"-d", "m", "--daemon"}, Build::kernel);
    EXPECT_EQ(o.code, 2);
    EXPECT_EQ(o.stderr_text, "baremail-kernel: --daemon needs --log FILE (a daemon has no stderr)\n");
    EXPECT_FALSE(o.served) << "nothing may be started (SPEC: nothing touched)";

    o = run({"-d", "m", "--fixed-isn"}, Build::kernel);
    EXPECT_EQ(o.code, 2);
    EXPECT_EQ(o.stderr_text, "baremail-kernel: --fixed-isn applies only to the DPDK build (baremail)\n");
    EXPECT_FALSE(o.served);

    o = run({"-d", "m", "--gateway", "nowhere"}, Build::dpdk);
    EXPECT_EQ(o.code, 2);
    EXPECT_EQ(o.stderr_text, "baremail: --gateway: 'nowhere' is not an IPv4 address\n");
    EXPECT_FALSE(o.served);
}

TEST(Program, AFailureWhileStartingIsOneLineAndExitCode2) {
    Outcome o = run({"-d", "m"}, Build::kernel,
                    [](const Options&) -> int { throw std::runtime_error("mail dir m: No such file"); });
    EXPECT_EQ(o.code, 2);
    EXPECT_EQ(o.stderr_text, "baremail-kernel: mail dir m: No such file\n");
}

TEST(Program, DashAPrintsNameAndVersionAndExits0WithoutServing) {
    Outcome o = run({"-a"}, Build::dpdk);
    EXPECT_EQ(o.code, 0);
    EXPECT_TRUE(o.stderr_text.starts_with("baremail ")) << o.stderr_text;
    EXPECT_NE(o.stderr_text.find("(test build)"), std::string::npos) << o.stderr_text;
    EXPECT_FALSE(o.served);
}

TEST(Program, HelpIsTheUsageOnStdoutAndExit0) {
    for (Build build : {Build::kernel, Build::dpdk}) {
        Outcome o = run({"--help"}, build);
        EXPECT_EQ(o.code, 0);
        EXPECT_EQ(o.stdout_text, usage(build));
        EXPECT_EQ(o.stderr_text, "");
        EXPECT_FALSE(o.served);
    }
}

TEST(Program, VersionOnStdoutAndExit0) {
    Outcome o = run({"--version"}, Build::kernel);
    EXPECT_EQ(o.code, 0);
    EXPECT_EQ(o.stdout_text, std::string("baremail-kernel ") + BAREMAIL_VERSION + " (test build)\n");
    EXPECT_FALSE(o.served);
}

TEST(Program, ABadOptionBesideHelpIsStillExit2) {
    Outcome o = run({"--help", "--bogus"}, Build::kernel);
    EXPECT_EQ(o.code, 2);
    EXPECT_EQ(o.stdout_text, "");
    EXPECT_EQ(o.stderr_text, "baremail-kernel: unknown option or missing argument: --bogus (try --help)\n");
}

TEST(Program, TheServersExitCodeIsTheProcesss) {
    Outcome o = run({"-d", "m"}, Build::kernel, [](const Options&) { return 0; });
    EXPECT_EQ(o.code, 0);
    EXPECT_TRUE(o.served);
    EXPECT_EQ(o.stderr_text, "");
}

TEST(Program, RelaySettingsComeFromTheOptions) {
    Options o = parse({"-d", "m", "--hostname", "mx.example", "--relayhost", "192.0.2.1:2525",
                       "--retry-delay", "7", "--max-attempts", "2"});
    RelaySettings s = relay_settings(o, "tag");
    EXPECT_EQ(s.queue_dir, "m/.queue");
    EXPECT_EQ(s.hostname, "mx.example");
    EXPECT_EQ(s.local_domains, (std::vector<std::string>{"mx.example", "localhost"}));
    ASSERT_TRUE(s.relayhost);
    EXPECT_EQ(s.relayhost->ip, *parse_ipv4("192.0.2.1"));
    EXPECT_EQ(s.relayhost->port, 2525);
    EXPECT_FALSE(s.needs_dns());
    EXPECT_EQ(s.retry_delay, 7);
    EXPECT_EQ(s.max_attempts, 2u);
    EXPECT_EQ(s.instance_tag, "tag");
    EXPECT_TRUE(relay_settings(parse({"-d", "m"}), "t").needs_dns());
}

// ---- signals and what SIGHUP reloads (issue 12) ---------------------------

TEST(Signals, EachHandledSignalHasItsRequest) {
    EXPECT_EQ(signal_request(SIGTERM), SignalRequest::stop);
    EXPECT_EQ(signal_request(SIGINT), SignalRequest::stop);
    EXPECT_EQ(signal_request(SIGHUP), SignalRequest::reload);
    EXPECT_EQ(signal_request(SIGUSR1), SignalRequest::report);
    EXPECT_EQ(signal_request(SIGUSR2), SignalRequest::none);
    sigset_t set = server_signals();
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) EXPECT_EQ(sigismember(&set, s), 1) << s;
    EXPECT_EQ(sigismember(&set, SIGUSR2), 0);
}

TEST(Signals, StraySignalsAreIgnoredAndTheHandledOnesAreNot) {
    ::signal(SIGHUP, SIG_IGN);  // as nohup(1) starts a process: HUP must still reload
    ignore_other_signals();
    for (int s : {SIGPIPE, SIGUSR2, SIGALRM, SIGXFSZ, SIGPWR}) {
        struct sigaction now {};
        sigaction(s, nullptr, &now);
        EXPECT_EQ(now.sa_handler, SIG_IGN) << s;
    }
    // SIGRTMIN: DPDK's TAP driver needs a real-time signal at its default.
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGQUIT, SIGSEGV, SIGRTMIN}) {
        struct sigaction now {};
        sigaction(s, nullptr, &now);
        EXPECT_NE(now.sa_handler, SIG_IGN) << s;
    }
    raise(SIGUSR2);  // would end the test binary if not ignored
    raise(SIGPIPE);
}

TEST(ReloadHooks, RunInOrderEachNamedWithItsOutcome) {
    ReloadHooks hooks;
    std::vector<std::string> ran;
    auto a = hooks.add("log", [&] { ran.push_back("log"); });
    auto b = hooks.add("users", [&] {
        ran.push_back("users");
        throw std::runtime_error("users file u: No such file or directory");
    });
    auto c = hooks.add("aliases", [&] { ran.push_back("aliases"); });
    EXPECT_EQ(hooks.run(), "log=ok users=error: users file u: No such file or directory aliases=ok");
    EXPECT_EQ(ran, (std::vector<std::string>{"log", "users", "aliases"}));
}

TEST(ReloadHooks, ARegistrationEndsWithItsOwner) {
    ReloadHooks hooks;
    int runs = 0;
    {
        auto r = hooks.add("users", [&] { ++runs; });
        ReloadHooks::Registration moved = std::move(r);
        EXPECT_EQ(hooks.size(), 1u);
    }
    EXPECT_EQ(hooks.size(), 0u);
    EXPECT_EQ(hooks.run(), "nothing to reload");
    EXPECT_EQ(runs, 0);
    ReloadHooks::Registration later;
    later = hooks.add("log", [&] { ++runs; });
    later = hooks.add("users", [&] { runs += 10; });  // the first one goes
    EXPECT_EQ(hooks.run(), "users=ok");
    EXPECT_EQ(runs, 10);
}

// Postfix's time units (s, m, h, d); a bare number is seconds. Defaults as
// Postfix: maximal_queue_lifetime 5d, delay_warning_time 4h; the retry cap
// 4000 s is maximal_backoff_time.
TEST(Options, QueueLifetimeOptionsTakeTimeUnits) {
    Options d = parse({"-d", "m"}, Build::kernel);
    EXPECT_EQ(d.max_queue_lifetime, 5 * 86400);
    EXPECT_EQ(d.max_retry_delay, 4000);
    EXPECT_EQ(d.delay_warning, 4 * 3600);
    Options o = parse({"-d", "m", "--max-queue-lifetime", "2d", "--max-retry-delay", "90m",
                       "--delay-warning", "0"}, Build::dpdk);
    EXPECT_EQ(o.max_queue_lifetime, 2 * 86400);
    EXPECT_EQ(o.max_retry_delay, 90 * 60);
    EXPECT_EQ(o.delay_warning, 0);
    EXPECT_EQ(parse({"-d", "m", "--max-queue-lifetime", "45"}, Build::kernel).max_queue_lifetime, 45);
    EXPECT_EQ(parse({"-d", "m", "--max-queue-lifetime", "45s"}, Build::kernel).max_queue_lifetime, 45);
    EXPECT_EQ(parse({"-d", "m", "--delay-warning", "3h"}, Build::kernel).delay_warning, 3 * 3600);
    RelaySettings r = relay_settings(o, "t");
    EXPECT_EQ(r.max_lifetime, 2 * 86400);
    EXPECT_EQ(r.max_retry_delay, 90 * 60);
    EXPECT_EQ(r.delay_warning, 0);
}

// ---- --aliases and --max-hops ---------------------------------------------

namespace {

// A scratch file (or directory) under /tmp for the start-up tests.
std::string scratch_dir() {
    std::string pattern = "/tmp/bm-options-test-XXXXXX";
    return ::mkdtemp(pattern.data()) ? pattern : "";
}

void write_file(const std::string& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr) << path;
    std::fputs(text.c_str(), f);
    std::fclose(f);
}

}  // namespace

TEST(Options, AliasesFileAndMaxHops) {
    Options o = parse({"-d", "m"});
    EXPECT_EQ(o.aliases_file, "");
    EXPECT_EQ(o.max_hops, 100u);  // RFC 5321 §6.3 suggests at least 100
    o = parse({"-d", "m", "--aliases", "/etc/baremail/aliases", "--max-hops", "30"});
    EXPECT_EQ(o.aliases_file, "/etc/baremail/aliases");
    EXPECT_EQ(o.max_hops, 30u);
    o.aliases_file.clear();
    apps::SmtpConfig smtp = smtp_config(o, "t");
    EXPECT_EQ(smtp.max_hops, 30u);
    ASSERT_NE(smtp.aliases, nullptr);
    EXPECT_EQ(smtp.aliases->current()->size(), 0u);
    EXPECT_EQ(rejection({"-d", "m", "--max-hops", "0"}), "--max-hops: '0' is not a number from 1 to 4294967295");
    EXPECT_EQ(rejection({"-d", "m", "--max-hops", "x"}), "--max-hops: 'x' is not a number from 1 to 4294967295");
}

TEST(Options, MaxErrorsIsPostfixsHardErrorLimit) {
    EXPECT_EQ(parse({"-d", "m"}).max_errors, 20u);  // smtpd_hard_error_limit's default
    EXPECT_EQ(smtp_config(parse({"-d", "m", "--max-errors", "5"}), "t").max_errors, 5u);
    EXPECT_EQ(parse({"-d", "m", "--max-errors", "0"}).max_errors, 0u);  // no limit
    EXPECT_EQ(rejection({"-d", "m", "--max-errors", "-1"}), "--max-errors: '-1' is not a number from 0 to 4294967295");
    EXPECT_EQ(rejection({"-d", "m", "--max-errors", "x"}), "--max-errors: 'x' is not a number from 0 to 4294967295");
    EXPECT_EQ(rejection({"-d", "m", "--aliases"}), "missing argument for --aliases");
    for (Build build : {Build::kernel, Build::dpdk}) {
        EXPECT_NE(usage(build).find("--aliases FILE"), std::string::npos);
        EXPECT_NE(usage(build).find("--max-hops N"), std::string::npos);
    }
}

TEST(Program, ABadAliasesLineIsOneLineNamingFileAndLineAndExitCode2) {
    std::string dir = scratch_dir();
    ASSERT_FALSE(dir.empty());
    write_file(dir + "/aliases", "postmaster: alice\n\nno colon here\n");
    Outcome o = run({"-d", dir, "--aliases", dir + "/aliases"}, Build::dpdk);
    EXPECT_EQ(o.code, 2);
    EXPECT_EQ(o.stderr_text, "baremail: aliases file " + dir + "/aliases:3: no \"name: address, ...\"\n");
    EXPECT_FALSE(o.served) << "read before the build starts anything";
    std::remove((dir + "/aliases").c_str());
    ::rmdir(dir.c_str());
}

TEST(Program, TheTableReadAtStartIsWhatTheServerGets) {
    std::string dir = scratch_dir();
    ASSERT_FALSE(dir.empty());
    write_file(dir + "/aliases", "Postmaster: alice\n");
    std::size_t entries = 0;
    Outcome o = run({"-d", dir, "--aliases", dir + "/aliases"}, Build::kernel, [&](const Options& options) {
        entries = options.aliases->current()->size();
        return smtp_config(options, "t").aliases == options.aliases ? 0 : 1;
    });
    EXPECT_EQ(o.code, 0) << o.stderr_text;
    EXPECT_EQ(entries, 1u);
    std::remove((dir + "/aliases").c_str());
    ::rmdir(dir.c_str());
}

// RFC 5321 §4.5.1: no postmaster alias and no postmaster mailbox, no start.
TEST(Program, WithoutAPostmasterTheServerWarnsAndStartsUnlessAnAliasesFileLacksIt) {
    std::string dir = scratch_dir();
    ASSERT_FALSE(dir.empty());
    Outcome o = run({"-d", dir}, Build::kernel);
    EXPECT_TRUE(o.served);
    EXPECT_NE(o.stderr_text.find("warning: no postmaster"), std::string::npos) << o.stderr_text;
    EXPECT_NE(o.stderr_text.find(dir + "/postmaster"), std::string::npos) << o.stderr_text;
    std::string aliases = dir + "/aliases";
    std::FILE* f = std::fopen(aliases.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("team: alice\n", f);
    std::fclose(f);
    o = run({"-d", dir, "--aliases", aliases}, Build::kernel);
    EXPECT_EQ(o.code, 2);
    EXPECT_NE(o.stderr_text.find("no postmaster"), std::string::npos) << o.stderr_text;
    EXPECT_FALSE(o.served);
    o = run({"-d", dir, "--sink"}, Build::kernel);
    EXPECT_TRUE(o.served);
    EXPECT_EQ(o.stderr_text.find("postmaster"), std::string::npos) << o.stderr_text;
    ::unlink(aliases.c_str());
    ::rmdir(dir.c_str());
}
