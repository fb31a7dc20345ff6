// What one mailgun run does, parsed from its command line into one value.
// Parsing never exits: a bad option is a UsageError whose message is the
// line the user sees before exit code 2.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bm::mailgun {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class Protocol { smtp, pop3 };
enum class TransportKind { kernel, dpdk };

// "user{0..99}@localhost": the text with the braces replaced by each number
// of the range in turn (index i -> first + i mod count). Without braces it
// is one fixed string.
class AddressPattern {
public:
    static AddressPattern parse(std::string_view text, std::string_view option);  // throws UsageError
    std::string at(std::uint64_t index) const;
    std::uint64_t size() const { return count_; }
    bool empty() const { return prefix_.empty() && count_ == 1 && suffix_.empty(); }

private:
    std::string prefix_, suffix_;
    std::uint64_t first_ = 0, count_ = 1;
    bool ranged_ = false;
};

struct Workload {
    TransportKind transport = TransportKind::kernel;
    Protocol protocol = Protocol::smtp;
    std::uint32_t server_ip = 0;      // host byte order
    std::uint16_t server_port = 0;    // 0: the protocol's default (replay: the captured port)
    std::uint32_t sessions = 1;       // concurrent connections (replay: 0 = unlimited)
    std::uint64_t messages = 0;       // with --messages; 0 with --duration
    double duration_s = 0;            // with --duration
    std::uint64_t size = 1024;        // octets of each message text
    std::uint32_t per_connection = 1; // messages (RETRs) per connection
    bool pipelining = false;          // RFC 2920 MAIL/RCPT/DATA in one write
    AddressPattern rcpt;
    std::string sender = "mailgun@localhost";
    std::string helo = "mailgun.test";
    AddressPattern user, password;
    double timeout_s = 10;            // per reply, and per connect
    double time_limit_s = 0;          // the whole run; set from the others when not given
    std::string json_path;
    bool quiet = false;
    // --replay
    std::string replay_path;
    double speed = 1;                 // capture inter-arrival times divided by this
    bool as_fast_as_possible = false;
    std::vector<std::pair<std::uint16_t, std::uint16_t>> port_map;  // captured -> live
    bool print_script = false;        // list each session's turns before replaying
    // --transport dpdk: the stack's own address
    std::uint32_t local_ip = 0;
    std::uint8_t prefix_len = 24;
    std::uint32_t gateway = 0;
    bool busy_poll = false;           // --poll busy: never nap between empty polls

    std::uint16_t default_port() const { return protocol == Protocol::smtp ? 2500 : 11000; }
    bool replay() const { return !replay_path.empty(); }
};

// The application's arguments (after "--" when EAL options come first).
// Throws UsageError; "--help" throws one holding the usage text.
Workload parse_workload(int argc, char** argv);
std::string usage();

}  // namespace bm::mailgun
