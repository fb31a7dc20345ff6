#include "apps/header_fill.hpp"

#include <array>
#include <cstdio>

namespace bm::apps {

namespace {

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    return true;
}

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// RFC 5322 §3.6.8: ftext = %d33-57 / %d59-126
bool is_ftext(char c) { return c >= 33 && c <= 126 && c != ':'; }

// The field name of a header field line, or empty if the line is not one.
// RFC 5322 §4.5.3 (obsolete syntax) allows white space before the colon.
std::string_view field_name(std::string_view line) {
    std::size_t end = 0;
    while (end < line.size() && is_ftext(line[end])) ++end;
    if (end == 0) return {};
    std::size_t colon = end;
    while (colon < line.size() && is_wsp(line[colon])) ++colon;
    if (colon == line.size() || line[colon] != ':') return {};
    return line.substr(0, end);
}

// Cuts the first line (without its CRLF or LF) off `text`.
std::string_view take_line(std::string_view& text) {
    std::size_t lf = text.find('\n');
    std::string_view line = text.substr(0, lf);
    text.remove_prefix(lf == std::string_view::npos ? text.size() : lf + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    return line;
}

// Calls `visit(name)` for each field of the header section (RFC 5322 §2.1:
// it ends at the first empty line; a line that is neither a field nor a
// folded continuation means there was no proper header section).
template <typename Visit>
void for_each_field(std::string_view message, Visit visit) {
    bool in_field = false;
    while (!message.empty()) {
        std::string_view line = take_line(message);
        if (line.empty()) return;
        if (in_field && is_wsp(line.front())) continue;  // RFC 5322 §2.2.3 folding
        std::string_view name = field_name(line);
        if (name.empty()) return;
        in_field = true;
        if (visit(name)) return;
    }
}

std::string two_digits(int n) {
    std::array<char, 4> buf{};
    std::snprintf(buf.data(), buf.size(), "%02d", n % 100);
    return buf.data();
}

}  // namespace

std::string rfc5322_date(std::time_t when) {
    // RFC 5322 §3.3; names spelled out so no locale can change them.
    static constexpr std::array<const char*, 7> days = {"Sun", "Mon", "Tue", "Wed",
                                                         "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> months = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    gmtime_r(&when, &tm);
    std::string out = days.at(static_cast<std::size_t>(tm.tm_wday));
    out += ", " + std::to_string(tm.tm_mday) + " ";
    out += months.at(static_cast<std::size_t>(tm.tm_mon));
    out += " " + std::to_string(tm.tm_year + 1900) + " ";
    out += two_digits(tm.tm_hour) + ":" + two_digits(tm.tm_min) + ":" + two_digits(tm.tm_sec);
    out += " +0000";
    return out;
}

std::string received_header(const Arrival& arrival) {
    // RFC 5321 §4.4: "from" names the client as it introduced itself and,
    // in the comment, the address the connection really came from.
    std::string_view helo = arrival.helo.empty() ? arrival.client_ip : arrival.helo;
    std::string out = "Received: from ";
    out += helo;
    out += " (";
    out += helo;
    out += " [";
    out += arrival.client_ip;
    out += "])\r\n\tby ";
    out += arrival.hostname;
    out += " (baremail) with ";
    out += arrival.esmtp ? "ESMTP" : "SMTP";  // RFC 3848 with-protocol types
    out += " id ";
    out += arrival.queue_id;
    // RFC 5321 §4.4: "for" only when it reveals no other recipient.
    if (arrival.recipients.size() == 1) {
        out += "\r\n\tfor <";
        out += arrival.recipients.front().address;
        out += ">";
    }
    out += "; " + rfc5322_date(arrival.when) + "\r\n";
    return out;
}

bool has_header(std::string_view message, std::string_view name) {
    bool found = false;
    for_each_field(message, [&](std::string_view field) {
        found = iequals(field, name);
        return found;
    });
    return found;
}

bool has_header_section(std::string_view message) {
    return !field_name(take_line(message)).empty();
}

std::string header_prefix(const Arrival& arrival, std::string_view message) {
    HeaderScan scan;
    scan.feed(message);
    return header_prefix(arrival, scan);
}

std::string header_prefix(const Arrival& arrival, const HeaderScan& message) {
    std::string out = received_header(arrival);
    // RFC 5322 §3.6: Date and an originator are required, Message-ID should
    // be present; a submission server may add them (RFC 6409 §8.1, §8.3).
    if (!message.has_date()) out += "Date: " + rfc5322_date(arrival.when) + "\r\n";
    if (!message.has_message_id()) {
        out += "Message-ID: <";
        out += arrival.queue_id;
        out += "@";
        out += arrival.hostname;
        out += ">\r\n";
    }
    // Without a header section the message's first line is body text: keep
    // it that way by ending our header section before it (RFC 5322 §2.1).
    if (!message.has_header_section() && !message.starts_with_blank_line()) out += "\r\n";
    return out;
}

}  // namespace bm::apps
