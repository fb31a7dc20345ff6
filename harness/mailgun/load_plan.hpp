// The generated workload shared by every session of a load run: how many
// messages are left (--messages) or until when to go on (--duration),
// which recipient each message goes to, and the message text itself.
#pragma once

#include <cstdint>
#include <string>

#include "harness/mailgun/tally.hpp"
#include "harness/mailgun/workload.hpp"

namespace bm::mailgun {

class LoadPlan {
public:
    LoadPlan(const Workload& workload, Tally& tally);
    // --duration counts from here.
    void begin(std::uint64_t start_ns);

    // Messages a new session carries: up to --per-connection of what is
    // left, or --per-connection while the duration lasts; 0: no new session.
    std::uint32_t reserve(std::uint64_t now_ns);
    // With --duration, a session begins no message after the end.
    bool may_begin_message(std::uint64_t now_ns) const;
    // A session ends with `n` of its reserved messages never tried: with
    // --messages they were part of the count and failed.
    void unsent(std::uint32_t n);
    bool exhausted(std::uint64_t now_ns) const;
    // The run's time limit came: messages never given to a session failed.
    void abandon();

    std::string recipient() { return workload_.rcpt.at(next_rcpt_++); }
    const std::string& text() const { return text_; }
    const Workload& workload() const { return workload_; }
    Tally& tally() { return tally_; }

private:
    const Workload& workload_;
    Tally& tally_;
    std::string text_;
    std::uint64_t left_ = 0;  // --messages not yet given to a session
    std::uint64_t end_ns_ = 0;  // --duration: no new message after this
    std::uint64_t next_rcpt_ = 0;
};

// A message text of exactly `size` octets (the minimum for its headers if
// smaller): a few headers, then lines of 76 letters and CRLF, none
// beginning with "." so it needs no stuffing (RFC 5321 §4.5.2).
std::string make_message_text(std::uint64_t size, const std::string& sender);

}  // namespace bm::mailgun
