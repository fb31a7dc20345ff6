// The bounce: a delivery status notification (RFC 3464) telling a sender
// which recipients could not be reached, as the text of a new message.
//
// Read first: RFC 3464 §2 (the message/delivery-status body: per-message
// and per-recipient fields), RFC 6522 (multipart/report), RFC 3463
// (status codes), RFC 5321 §4.5.5 and §6.1 (a bounce goes from the null
// sender <>, so it never bounces itself), RFC 5322 §3.6 (header fields).
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace bm::apps {

struct FailedRecipient {
    std::string address;     // as given in RCPT TO, without <>
    std::string diagnostic;  // the last SMTP reply or our reason, e.g. "550 5.1.1 no such user"
};

struct BounceInput {
    std::string hostname;       // Reporting-MTA and From: MAILER-DAEMON@hostname
    std::string sender;         // the original reverse-path: the bounce's To:
    std::string queue_id;       // of the original message
    std::time_t arrival = 0;    // when we accepted it (Arrival-Date)
    std::time_t now = 0;        // Date: of the bounce
    std::string unique;         // makes the boundary and Message-ID unique
    std::vector<FailedRecipient> failed;  // or, for a warning, those still being retried
    std::string_view original;  // the queued message text (CRLF lines)
    // A delay warning rather than a bounce: RFC 3464 §2.3.3 Action: delayed,
    // §2.3.8 Will-Retry-Until: when the message bounces if still undelivered.
    bool delayed = false;
    std::time_t retry_until = 0;
};

// The whole bounce (or delay warning) message, CRLF lines, ready for
// MailStore delivery.
std::string build_dsn(const BounceInput& input);

// RFC 3463 status for a diagnostic: the enhanced code in the reply if it
// has one ("550 5.1.1 ..." -> "5.1.1"), else class.0.0 from the reply code,
// else 4.4.1 (no answer from host) for our own reasons.
std::string status_of(std::string_view diagnostic);

}  // namespace bm::apps
