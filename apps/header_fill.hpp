// What the SMTP receiver adds to a message it accepts (pure functions).
//
// Read first: RFC 5321 §4.4 (the Received: trace field every relay must
// prepend) and RFC 5322 §3.6 (Date: and Message-ID:, which a message
// should carry; RFC 6409 §8.1/§8.3 lets the server add them when missing),
// RFC 5322 §3.3 for the date format.
#pragma once

#include <ctime>
#include <span>
#include <string>
#include <string_view>

#include "apps/header_scan.hpp"
#include "apps/mail_port.hpp"

namespace bm::apps {

// Where a message came from and what it became: the facts of the trace.
struct Arrival {
    std::string_view helo;       // argument of HELO/EHLO
    std::string_view client_ip;  // dotted quad
    std::string_view hostname;   // our name
    bool esmtp = false;          // EHLO session ("with ESMTP") or HELO ("with SMTP")
    std::string_view queue_id;
    std::span<const Recipient> recipients;
    std::time_t when = 0;
    // The client's name from reverse DNS, when looked up and verified
    // forward (FCrDNS); empty: only the address goes into TCP-info.
    std::string_view client_name;
};

// RFC 5322 §3.3 date-time in UTC: "Tue, 14 Nov 2023 22:13:20 +0000".
std::string rfc5322_date(std::time_t when);

// The Received: field (RFC 5321 §4.4), folded, ending in CRLF.
std::string received_header(const Arrival& arrival);

// Whether the header section of `message` (up to its first empty line, or
// to the first line that is not a header field) has a field `name`.
bool has_header(std::string_view message, std::string_view name);

// Whether `message` starts with a header section at all.
bool has_header_section(std::string_view message);

// The text to put in front of `message`: Received:, then Date: and
// Message-ID: if the message lacks them, then an empty line if the message
// has no header section (so its first line stays body text).
std::string header_prefix(const Arrival& arrival, std::string_view message);
// The same, for a message scanned as it arrived (the whole of it fed).
std::string header_prefix(const Arrival& arrival, const HeaderScan& message);

}  // namespace bm::apps
