// Settings the protocol machines need, filled by the driver from the CLI.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/client_limits.hpp"

namespace bm::apps {

class AliasBook;     // apps/aliases.hpp
class LoginPenalty;  // apps/login_penalty.hpp

// Wall clock as a parameter, so tests can fix it.
using Clock = std::time_t (*)();
inline std::time_t system_clock_now() { return std::time(nullptr); }

struct SmtpConfig {
    std::string hostname = "localhost";
    // Lower-case domains delivered locally; "[a.b.c.d]" literals allowed.
    // The session also treats "[<Peer::local_ip>]" as local.
    std::vector<std::string> local_domains = {"localhost"};
    std::uint64_t max_message_size = 10485760;
    std::uint32_t max_recipients = 1000;
    bool header_fill = true;  // Received/Date/Message-ID
    // RFC 5321 §6.3: a message with more Received: fields than this is a
    // mail loop, refused after its final dot (554 5.4.6).
    std::uint32_t max_hops = 100;
    // Postfix's smtpd_hard_error_limit (default 20): a session that has
    // had this many 4xx/5xx replies gets 421 4.7.0 and is closed; 0: no limit.
    std::uint32_t max_errors = 20;
    // SPEC --aliases: local names expanded at RCPT; none: no aliases.
    std::shared_ptr<AliasBook> aliases;  // the reload replaces its table
    // Makes queue ids unique across restarts of the process (e.g. start
    // time and pid, in hex), combined with the connection number.
    std::string instance_tag = "0";
    Clock now = system_clock_now;
};

struct Pop3Config {
    std::string hostname = "localhost";
    std::string instance_tag = "0";  // for the APOP timestamp
    // Failed logins counted per client address across connections, with
    // a growing wait (the server's one tracker, owned by its ServiceHost).
    LoginPenalty* login_penalty = nullptr;
    // Without one: after this many failed logins on one connection, each
    // further answer is delayed by login_delay (and logged for fail2ban).
    std::uint32_t free_login_failures = 3;
    std::uint32_t login_delay_ms = 2000;
    Clock now = system_clock_now;
};

// What a server's hosted sessions are built with (apps/hosted_session.hpp):
// both builds fill it from the same options.
struct HostConfig {
    SmtpConfig smtp;
    Pop3Config pop3;
    // SPEC --relay-from: whether a client at this IPv4 address (host byte
    // order) may relay. Unset: nobody may.
    std::function<bool(std::uint32_t remote_ip)> may_relay;
    // SPEC --max-conn-per-ip, --max-conn-rate-per-ip: per service and
    // client address (apps/client_limits); relay clients are exempt.
    // None unless the driver sets them (the options' defaults do).
    ClientLimitSettings client_limits{.max_connections = 0, .max_rate = 0};
};

}  // namespace bm::apps
