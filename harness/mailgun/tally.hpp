// What a run counts: messages and sessions that succeeded or failed, every
// message's latency, and errors by kind and by the server's reply code.
// The client machines write it; report.cpp prints it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "harness/mailgun/histogram.hpp"

namespace bm::mailgun {

enum class ErrorKind {
    connect_refused,   // RST to our SYN / ECONNREFUSED
    connect_failed,    // any other failed open (unreachable, no port, ...)
    timeout,           // no reply (or no connection) within --timeout
    server_closed,     // the server closed or reset before the session ended
    rejected,          // a 4yz/5yz or -ERR reply (also counted by its code)
    unexpected_reply,  // a reply we cannot follow (wrong code class, garbled)
    unfinished,        // still open when the run's time limit came
};
inline constexpr int error_kind_count = 7;
const char* error_kind_name(ErrorKind kind);

// A replayed reply whose class differs from the capture's.
struct Mismatch {
    std::uint64_t session = 0;  // index of the connection in the capture
    std::uint64_t turn = 0;     // index of the reply within that connection
    std::string command;        // the first line the client sent before it
    std::string expected;       // the capture's class ("2xx", "+OK", ...)
    std::string got;            // the live reply's first line, or what happened
};

class Tally {
public:
    void message_ok(std::uint64_t latency_ns) {
        ++messages_ok;
        latency.record(latency_ns);
    }
    void messages_failed(std::uint64_t n) { messages_failed_count += n; }
    void session_ended(bool ok) { ++(ok ? sessions_ok : sessions_failed); }
    void error(ErrorKind kind) { ++errors[static_cast<int>(kind)]; }
    // A refusal: counted as `rejected` and under its code ("550", "-ERR").
    void rejected(std::string_view code);
    void mismatch(Mismatch m);

    std::uint64_t error_total() const;

    std::uint64_t messages_ok = 0;
    std::uint64_t messages_failed_count = 0;
    std::uint64_t sessions_ok = 0;
    std::uint64_t sessions_failed = 0;
    std::uint64_t errors[error_kind_count] = {};
    std::map<std::string, std::uint64_t> codes;
    Histogram latency;
    // Replay only.
    std::uint64_t replies_compared = 0;
    std::uint64_t mismatch_count = 0;
    std::vector<Mismatch> mismatches;  // the first max_kept_mismatches
    static constexpr std::size_t max_kept_mismatches = 1000;
    // Run time: first connection opened to last one closed.
    std::uint64_t started_ns = 0;
    std::uint64_t ended_ns = 0;
};

}  // namespace bm::mailgun
