// The command line of both builds (SPEC "Command line"), parsed into one
// value. Parsing never exits: a bad option is a UsageError whose message is
// the one line the operator sees before exit code 2.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/config.hpp"
#include "dataplane/common/cidr.hpp"

namespace bm {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class Build { kernel, dpdk };

struct Options {
    std::string mail_dir;
    std::string users_file;
    std::string aliases_file;  // SPEC --aliases; empty: no aliases
    // Its table, read by run_program (program.hpp) before a build starts.
    std::shared_ptr<apps::AliasBook> aliases;
    std::uint16_t smtp_port = 2500;
    std::uint16_t pop3_port = 11000;
    std::uint16_t echo_port = 10000;
    std::string hostname = "localhost";
    std::vector<std::string> local_domains;  // lower-cased; hostname/localhost added
    std::vector<Cidr> relay_from;            // default 127.0.0.0/8
    std::string queue_dir;                   // default mail_dir/.queue
    std::string relayhost;
    std::string dns;
    std::uint32_t retry_delay = 300;
    std::uint32_t max_attempts = 5;
    // Queue lifetime (seconds; the command line also takes s/m/h/d suffixes).
    std::int64_t max_queue_lifetime = 5 * 24 * 3600;  // then undelivered mail bounces
    std::int64_t max_retry_delay = 4000;              // cap of the doubling retry delay
    std::int64_t delay_warning = 4 * 3600;            // 0: no delay warning
    std::uint32_t relay_timeout = 300;  // relay client: per reply and connect (RFC 5321 §4.5.3.2)
    std::uint32_t max_conn = 4096;
    // Per service and client address, as Postfix's anvil; 0: no limit.
    std::uint32_t max_conn_per_ip = 50;
    std::uint32_t max_conn_rate_per_ip = 0;  // connections begun per 60 s
    std::uint64_t max_msg_size = 10485760;
    std::uint32_t max_hops = 100;  // RFC 5321 §6.3: more Received: fields is a loop
    std::uint32_t max_errors = 20;  // SMTP error replies per session (Postfix smtpd_hard_error_limit); 0: none
    // Octets of message bodies spooled at once, all sessions together
    // (README "Big messages in"); past it a message gets 452.
    std::uint64_t max_spool = 1073741824;
    std::optional<std::uint32_t> idle_timeout;  // seconds; default per service
    // --smtp-idle-timeout/--pop3-idle-timeout win over --idle-timeout,
    // whatever their order (the specific setting is the operator's intent).
    std::optional<std::uint32_t> smtp_idle_timeout;
    std::optional<std::uint32_t> pop3_idle_timeout;
    // A client that takes none of the replies owed to it for this long is
    // closed (README "Back-pressure").
    std::uint32_t send_timeout = 300;
    std::string log_file;
    bool daemon = false;
    std::string pid_file;
    std::string user;  // --user: the account to run as once ports and files are open
    bool header_fill = true;
    bool verbose = false;
    bool about = false;    // -a
    bool help = false;     // -h, --help
    bool version = false;  // --version
    bool sink = false;
    // kernel build: listen address; DPDK build: the stack's own address.
    std::string ip;
    std::uint8_t prefix_len = 24;
    std::string gateway;
    bool fixed_isn = false;
    std::uint16_t min_mss = 536;  // DPDK build: a peer's smaller MSS is raised to this
    std::uint32_t tcb_capacity = 0;
    // DPDK build (--poll, --poll-idle-us): poll without pause (a core of
    // its own) or, by default, sleep after poll_idle_us without work.
    bool busy_poll = false;
    std::uint32_t poll_idle_us = 100;

    std::uint32_t smtp_idle() const { return smtp_idle_timeout.value_or(idle_timeout.value_or(300)); }
    std::uint32_t pop3_idle() const { return pop3_idle_timeout.value_or(idle_timeout.value_or(600)); }
    std::uint32_t echo_idle() const { return idle_timeout.value_or(300); }
};

// argv after the EAL part (DPDK) or the whole argv (kernel build).
Options parse_options(int argc, char** argv, Build build);
// The --help text: every option this build accepts, grouped as in SPEC,
// each with its meaning and default; made from the parser's own table.
std::string usage(Build build);
// Every option word the parser knows, either build ("--mail-dir", "-v").
std::vector<std::string> option_words();

// The protocol machines' settings, derived from the options.
apps::SmtpConfig smtp_config(const Options& options, const std::string& instance_tag);
apps::Pop3Config pop3_config(const Options& options, const std::string& instance_tag);
// Both, and --relay-from as the relay check: what the hosted sessions of
// either build are built with (apps::ServiceHost).
apps::HostConfig host_config(const Options& options, const std::string& instance_tag);
// Unique to this start of the process (start time and pid, in hex): it
// keeps queue ids, APOP timestamps and bounce ids apart across restarts.
std::string instance_tag();

}  // namespace bm
