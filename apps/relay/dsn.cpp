#include "apps/relay/dsn.hpp"

#include "apps/header_fill.hpp"

namespace bm::apps {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 3463 §2: class "." subject "." detail, 1-3 digits each.
bool is_status_code(std::string_view s) {
    if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
    std::size_t dots = 0, digits = 0;
    for (std::size_t i = 2; i < s.size(); ++i) {
        if (s[i] == '.') {
            if (digits == 0 || ++dots > 1) return false;
            digits = 0;
        } else if (is_digit(s[i]) && ++digits <= 3) {
            continue;
        } else {
            return false;
        }
    }
    return dots == 1 && digits > 0;
}

// The original header section (RFC 3462 text/rfc822-headers): up to the
// first empty line, or all of it if there is none.
std::string_view header_section(std::string_view message) {
    if (message.starts_with("\r\n")) return {};
    std::size_t end = message.find("\r\n\r\n");
    return end == std::string_view::npos ? message : message.substr(0, end + 2);
}

// Values go into header fields: one line, no CR/LF to forge a field with.
std::string one_line(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c == '\r' || c == '\n') c = ' ';
    return out;
}

}  // namespace

std::string status_of(std::string_view diagnostic) {
    if (diagnostic.size() >= 3 && is_digit(diagnostic[0]) && is_digit(diagnostic[1]) &&
        is_digit(diagnostic[2])) {
        std::string_view rest = diagnostic.substr(3);
        while (rest.starts_with(' ') || rest.starts_with('-')) rest.remove_prefix(1);
        std::string_view word = rest.substr(0, rest.find(' '));
        if (is_status_code(word) && word[0] == diagnostic[0]) return std::string(word);
        if (diagnostic[0] == '5' || diagnostic[0] == '4') return std::string(1, diagnostic[0]) + ".0.0";
    }
    // Our own reasons may start with the code they stand for ("5.1.2 ...").
    std::string_view first = diagnostic.substr(0, diagnostic.find(' '));
    if (is_status_code(first) && first[0] != '2') return std::string(first);
    return "4.4.1";  // RFC 3463 §3.5: no answer from host
}

std::string build_dsn(const BounceInput& in) {
    const std::string boundary = in.unique + "/" + in.hostname;
    const std::string mailer_daemon = "MAILER-DAEMON@" + in.hostname;
    std::string out;
    out.reserve(2048 + header_section(in.original).size());

    // RFC 5322 §3.6: the message's own header; RFC 6522 §3: the report type.
    out += "Date: " + rfc5322_date(in.now) + "\r\n";
    out += "From: Mail Delivery System <" + mailer_daemon + ">\r\n";
    out += "To: <" + one_line(in.sender) + ">\r\n";
    out += in.delayed ? "Subject: Delayed Mail (still being retried)\r\n"
                      : "Subject: Undelivered Mail Returned to Sender\r\n";
    out += "Message-ID: <" + in.unique + "@" + in.hostname + ">\r\n";
    out += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 §5: no auto-reply loops
    out += "MIME-Version: 1.0\r\n";
    out += "Content-Type: multipart/report; report-type=delivery-status;\r\n";
    out += "\tboundary=\"" + boundary + "\"\r\n";
    out += "\r\n";
    out += "This is a MIME-encapsulated message.\r\n\r\n";

    // Part 1: for the human (RFC 6522 §3).
    out += "--" + boundary + "\r\n";
    out += "Content-Description: Notification\r\n";
    out += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
    out += "This is the mail system at host " + in.hostname + ".\r\n\r\n";
    if (in.delayed) {
        // Postfix's wording: the sender must not resend a message still queued.
        out += "THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE.\r\n\r\n";
        out += "Your message could not be delivered yet to one or more recipients.\r\n";
        out += "It will be retried until " + rfc5322_date(in.retry_until) + ".\r\n\r\n";
    } else {
        out += "I'm sorry to have to inform you that your message could not\r\n";
        out += "be delivered to one or more recipients.\r\n\r\n";
    }
    for (const FailedRecipient& r : in.failed)
        out += "<" + one_line(r.address) + ">: " + one_line(r.diagnostic) + "\r\n";
    out += "\r\n";

    // Part 2: for the machine (RFC 3464 §2.2 per-message, §2.3 per-recipient).
    out += "--" + boundary + "\r\n";
    out += "Content-Description: Delivery report\r\n";
    out += "Content-Type: message/delivery-status\r\n\r\n";
    out += "Reporting-MTA: dns; " + in.hostname + "\r\n";
    out += "X-Baremail-Queue-ID: " + one_line(in.queue_id) + "\r\n";
    out += "Arrival-Date: " + rfc5322_date(in.arrival) + "\r\n";
    for (const FailedRecipient& r : in.failed) {
        out += "\r\n";
        out += "Final-Recipient: rfc822; " + one_line(r.address) + "\r\n";
        out += in.delayed ? "Action: delayed\r\n" : "Action: failed\r\n";
        out += "Status: " + status_of(r.diagnostic) + "\r\n";
        // RFC 3464 §2.3.6: only a reply the remote MTA sent is "smtp;".
        std::string diagnostic = one_line(r.diagnostic);
        bool smtp_reply = diagnostic.size() >= 3 && is_digit(diagnostic[0]) &&
                          is_digit(diagnostic[1]) && is_digit(diagnostic[2]);
        out += std::string("Diagnostic-Code: ") + (smtp_reply ? "smtp; " : "x-baremail; ") +
               diagnostic + "\r\n";
        out += "Last-Attempt-Date: " + rfc5322_date(in.now) + "\r\n";
        if (in.delayed) out += "Will-Retry-Until: " + rfc5322_date(in.retry_until) + "\r\n";
    }
    out += "\r\n";

    // Part 3: the original header (RFC 6522 §3, RFC 6522 §4 text/rfc822-headers).
    out += "--" + boundary + "\r\n";
    out += in.delayed ? "Content-Description: Delayed Message Headers\r\n"
                      : "Content-Description: Undelivered Message Headers\r\n";
    out += "Content-Type: text/rfc822-headers\r\n\r\n";
    std::string_view headers = header_section(in.original);
    out += headers;
    if (!headers.empty() && !headers.ends_with("\r\n")) out += "\r\n";
    out += "\r\n--" + boundary + "--\r\n";
    return out;
}

}  // namespace bm::apps
