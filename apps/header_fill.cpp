#include "apps/header_fill.hpp"

#include <array>
#include <charconv>

#include "apps/ascii.hpp"

namespace bm::apps {

namespace {

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

void append_two_digits(std::string& out, unsigned n) {
    out += static_cast<char>('0' + n / 10 % 10);
    out += static_cast<char>('0' + n % 10);
}

void append_number(std::string& out, long long n) {
    std::array<char, 24> buf{};
    auto result = std::to_chars(buf.data(), buf.data() + buf.size(), n);
    out.append(buf.data(), result.ptr);
}

// The proleptic Gregorian date of a day counted from 1970-01-01 (H. Hinnant's
// civil_from_days: eras of 400 years, March-based years so the leap day ends
// one), with no time zone or locale to consult.
struct CivilDate {
    long long year;
    unsigned month;  // 1..12
    unsigned day;    // 1..31
};

CivilDate civil_from_days(long long days) {
    days += 719468;  // from 0000-03-01
    const long long era = (days >= 0 ? days : days - 146096) / 146097;
    const auto day_of_era = static_cast<unsigned>(days - era * 146097);                // [0, 146096]
    const unsigned year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;  // [0, 399]
    const unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const unsigned march_month = (5 * day_of_year + 2) / 153;  // [0, 11], 0 = March
    const unsigned day = day_of_year - (153 * march_month + 2) / 5 + 1;
    const unsigned month = march_month < 10 ? march_month + 3 : march_month - 9;
    const long long year = static_cast<long long>(year_of_era) + era * 400 + (month <= 2);
    return {year, month, day};
}

// RFC 5322 §3.3 date-time in UTC; names spelled out so no locale can change them.
void append_rfc5322_date(std::string& out, std::time_t when) {
    static constexpr std::array<std::string_view, 7> days = {"Thu", "Fri", "Sat", "Sun",
                                                              "Mon", "Tue", "Wed"};  // from 1970-01-01
    static constexpr std::array<std::string_view, 12> months = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const long long seconds = when;
    long long day_number = seconds / 86400;
    long long second_of_day = seconds % 86400;
    if (second_of_day < 0) {
        second_of_day += 86400;
        --day_number;
    }
    const CivilDate date = civil_from_days(day_number);
    const auto weekday = static_cast<std::size_t>(((day_number % 7) + 7) % 7);
    const auto second = static_cast<unsigned>(second_of_day);
    out += days[weekday];
    out += ", ";
    append_number(out, date.day);
    out += ' ';
    out += months[date.month - 1];
    out += ' ';
    append_number(out, date.year);
    out += ' ';
    append_two_digits(out, second / 3600);
    out += ':';
    append_two_digits(out, second / 60 % 60);
    out += ':';
    append_two_digits(out, second % 60);
    out += " +0000";
}

// RFC 5321 §4.4: "from" names the client as it introduced itself; the
// comment is TCP-info, what the connection itself says — the address
// literal, preceded by the client's name only when reverse DNS gave one
// that verifies forward. The EHLO name is the client's claim and never
// goes in there.
void append_received_header(std::string& out, const Arrival& arrival) {
    out += "Received: from ";
    if (arrival.helo.empty()) {
        out += '[';
        out += arrival.client_ip;
        out += ']';
    } else {
        out += arrival.helo;
    }
    out += " (";
    if (!arrival.client_name.empty()) {
        out += arrival.client_name;
        out += ' ';
    }
    out += "[";
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
    out += "; ";
    append_rfc5322_date(out, arrival.when);
    out += "\r\n";
}

}  // namespace

std::string rfc5322_date(std::time_t when) {
    std::string out;
    append_rfc5322_date(out, when);
    return out;
}

std::string received_header(const Arrival& arrival) {
    std::string out;
    append_received_header(out, arrival);
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
    std::string out;
    // Everything below, so the text is built in one allocation.
    constexpr std::size_t fixed_text = 200;
    out.reserve(fixed_text + 2 * arrival.helo.size() + arrival.client_ip.size() +
                2 * arrival.hostname.size() + 2 * arrival.queue_id.size() +
                (arrival.recipients.size() == 1 ? arrival.recipients.front().address.size() : 0));
    append_received_header(out, arrival);
    // RFC 5322 §3.6: Date and an originator are required, Message-ID should
    // be present; a submission server may add them (RFC 6409 §8.1, §8.3).
    if (!message.has_date()) {
        out += "Date: ";
        append_rfc5322_date(out, arrival.when);
        out += "\r\n";
    }
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
