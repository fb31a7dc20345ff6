#include "apps/address.hpp"

#include <limits>

#include "apps/ascii.hpp"

namespace bm::apps {

namespace {

constexpr std::size_t max_local_part = 64;  // RFC 5321 §4.5.3.1.1
constexpr std::size_t max_domain = 255;     // RFC 5321 §4.5.3.1.2
constexpr std::size_t max_path = 256;       // RFC 5321 §4.5.3.1.3, brackets included
constexpr std::size_t max_label = 63;       // RFC 1035 §2.3.4
constexpr std::size_t max_size_digits = 20; // RFC 1870 §3: size-value = 1*20DIGIT

enum class Role { sender, recipient };

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_let_dig(char c) { return is_alpha(c) || is_digit(c); }

// RFC 5322 §3.2.3 atext, as RFC 5321 §4.1.2 Atom uses it.
bool is_atext(char c) {
    if (is_let_dig(c)) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// RFC 5321 §4.1.2: qtextSMTP = %d32-33 / %d35-91 / %d93-126
bool is_qtext(char c) { return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126); }

// RFC 5321 §4.1.2: dcontent = %d33-90 / %d94-126
bool is_dcontent(char c) { return (c >= 33 && c <= 90) || (c >= 94 && c <= 126); }

// RFC 5321 §4.1.2: Dot-string = Atom *("." Atom)
bool is_dot_string(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '.') {
            if (s[i + 1] == '.') return false;  // safe: s.back() is not '.'
        } else if (!is_atext(s[i])) {
            return false;
        }
    }
    return true;
}

// RFC 5321 §4.1.2: Quoted-string = DQUOTE *QcontentSMTP DQUOTE.
// Length of the quoted string that starts `s`, or 0 if there is none.
std::size_t quoted_string_length(std::string_view s) {
    if (s.empty() || s.front() != '"') return 0;
    for (std::size_t i = 1; i < s.size(); ++i) {
        char c = s[i];
        if (c == '"') return i + 1;
        if (c == '\\') {
            // quoted-pairSMTP = %d92 %d32-126
            if (i + 1 >= s.size() || s[i + 1] < 32 || s[i + 1] > 126) return 0;
            ++i;
        } else if (!is_qtext(c)) {
            return 0;
        }
    }
    return 0;
}

// RFC 5321 §4.1.2: sub-domain = Let-dig [Ldh-str]
bool is_sub_domain(std::string_view label) {
    if (label.empty() || label.size() > max_label) return false;
    if (!is_let_dig(label.front()) || !is_let_dig(label.back())) return false;
    for (char c : label)
        if (!is_let_dig(c) && c != '-') return false;
    return true;
}

// RFC 5321 §4.1.2: Domain = sub-domain *("." sub-domain)
bool is_domain(std::string_view s) {
    if (s.empty() || s.size() > max_domain) return false;
    for (;;) {
        std::size_t dot = s.find('.');
        if (!is_sub_domain(s.substr(0, dot))) return false;
        if (dot == std::string_view::npos) return true;
        s.remove_prefix(dot + 1);
    }
}

// RFC 5321 §4.1.3: IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT 0..255
bool is_ipv4_literal(std::string_view s) {
    for (int part = 0; part < 4; ++part) {
        std::size_t digits = 0;
        unsigned value = 0;
        while (digits < s.size() && is_digit(s[digits])) {
            value = value * 10 + static_cast<unsigned>(s[digits] - '0');
            if (++digits > 3) return false;
        }
        if (digits == 0 || value > 255) return false;
        s.remove_prefix(digits);
        if (part < 3) {
            if (s.empty() || s.front() != '.') return false;
            s.remove_prefix(1);
        }
    }
    return s.empty();
}

// RFC 5321 §4.1.3: General-address-literal = Standardized-tag ":" 1*dcontent
// (this also covers "IPv6:..." without checking the IPv6 grammar itself).
bool is_general_literal(std::string_view s) {
    std::size_t colon = s.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
    std::string_view tag = s.substr(0, colon);
    if (!is_let_dig(tag.front()) || !is_let_dig(tag.back())) return false;
    for (char c : tag)
        if (!is_let_dig(c) && c != '-') return false;
    for (char c : s.substr(colon + 1))
        if (!is_dcontent(c)) return false;
    return true;
}

// RFC 5321 §4.1.2: address-literal = "[" ( IPv4 / IPv6 / General ) "]"
bool is_address_literal(std::string_view s) {
    if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
    std::string_view inner = s.substr(1, s.size() - 2);
    return is_ipv4_literal(inner) || is_general_literal(inner);
}

PathArgument failure(PathError error, std::string reason) {
    PathArgument result;
    result.error = error;
    result.reason = std::move(reason);
    return result;
}

// RFC 5321 §4.1.2: A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain.
// The route is checked and then ignored (RFC 5321 §3.3, Appendix C).
bool is_source_route(std::string_view route) {
    for (;;) {
        std::size_t comma = route.find(',');
        std::string_view hop = route.substr(0, comma);
        if (hop.size() < 2 || hop.front() != '@' || !is_domain(hop.substr(1))) return false;
        if (comma == std::string_view::npos) return true;
        route.remove_prefix(comma + 1);
    }
}

// Mailbox = Local-part "@" ( Domain / address-literal ), RFC 5321 §4.1.2;
// a recipient may also be the bare "postmaster" (RFC 5321 §4.5.1).
PathArgument parse_mailbox(std::string_view mailbox, Role role) {
    std::size_t local_length = mailbox.starts_with('"') ? quoted_string_length(mailbox)
                                                        : mailbox.find('@');
    if (local_length == std::string_view::npos) local_length = mailbox.size();
    std::string_view local = mailbox.substr(0, local_length);
    if (local.empty())
        return failure(PathError::address, mailbox.starts_with('"') ? "bad quoted local part"
                                                                   : "empty local part");
    if (local.size() > max_local_part)
        return failure(PathError::address, "local part longer than 64 octets");
    if (!local.starts_with('"') && !is_dot_string(local))
        return failure(PathError::address, "bad local part");

    std::string_view rest = mailbox.substr(local_length);
    PathArgument result;
    if (rest.empty()) {
        // RFC 5321 §4.5.1: "postmaster" without a domain, case-insensitive.
        if (role == Role::recipient && iequals(local, "postmaster")) {
            result.path.local_part = "postmaster";
            return result;
        }
        return failure(PathError::address, "missing domain");
    }
    if (rest.front() != '@') return failure(PathError::address, "bad local part");
    std::string_view domain = rest.substr(1);
    if (domain.size() > max_domain)
        return failure(PathError::address, "domain longer than 255 octets");
    bool literal = domain.starts_with('[');
    if (literal ? !is_address_literal(domain) : !is_domain(domain))
        return failure(PathError::address, "bad domain");
    result.path.local_part = std::string(local);
    result.path.domain = lower_copy(domain);  // RFC 5321 §2.4: domains are case-insensitive
    return result;
}

// Path = "<" [ A-d-l ":" ] Mailbox ">", without the brackets here.
PathArgument parse_path(std::string_view inner, Role role) {
    if (inner.size() + 2 > max_path)
        return failure(PathError::address, "path longer than 256 octets");
    if (inner.empty()) {
        // RFC 5321 §4.5.5: the null reverse-path, only for MAIL.
        if (role == Role::sender) return PathArgument{};
        return failure(PathError::address, "empty recipient");
    }
    if (inner.front() == '@') {
        std::size_t colon = inner.find(':');
        if (colon == std::string_view::npos || !is_source_route(inner.substr(0, colon)))
            return failure(PathError::address, "bad source route");
        inner.remove_prefix(colon + 1);
    }
    return parse_mailbox(inner, role);
}

// Where the ">" that closes a path starting with "<" is; quotes may hide one.
std::size_t closing_bracket(std::string_view s) {
    bool quoted = false;
    for (std::size_t i = 1; i < s.size(); ++i) {
        char c = s[i];
        if (quoted && c == '\\') {
            ++i;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && c == '>') {
            return i;
        }
    }
    return std::string_view::npos;
}

// RFC 5321 §4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
bool is_esmtp_keyword(std::string_view s) {
    if (s.empty() || !is_let_dig(s.front())) return false;
    for (char c : s)
        if (!is_let_dig(c) && c != '-') return false;
    return true;
}

// RFC 5321 §4.1.2: esmtp-value = 1*(%d33-60 / %d62-126)
bool is_esmtp_value(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < 33 || c > 126 || c == '=') return false;
    return true;
}

// RFC 1870 §3: SIZE=1*20DIGIT; a value beyond 64 bits saturates, so it is
// still "too big" for the limit check rather than a syntax error.
std::optional<std::uint64_t> parse_size_value(std::string_view s) {
    if (s.empty() || s.size() > max_size_digits) return std::nullopt;
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t value = 0;
    for (char c : s) {
        if (!is_digit(c)) return std::nullopt;
        auto digit = static_cast<std::uint64_t>(c - '0');
        value = (value > (max - digit) / 10) ? max : value * 10 + digit;
    }
    return value;
}

// One "KEY[=VALUE]" of MAIL FROM; only what our EHLO offers is known.
std::optional<PathArgument> apply_mail_parameter(std::string_view keyword,
                                                 std::optional<std::string_view> value,
                                                 MailParameters& parameters) {
    if (iequals(keyword, "SIZE")) {
        auto size = value ? parse_size_value(*value) : std::nullopt;
        if (!size || parameters.size) return failure(PathError::bad_parameter, "Bad SIZE syntax");
        parameters.size = size;
        return std::nullopt;
    }
    if (iequals(keyword, "BODY")) {
        // RFC 6152 §2: body-value = "7BIT" / "8BITMIME"
        if (!value || parameters.body != BodyType::unspecified)
            return failure(PathError::bad_parameter, "Bad BODY keyword syntax");
        if (iequals(*value, "7BIT")) {
            parameters.body = BodyType::seven_bit;
        } else if (iequals(*value, "8BITMIME")) {
            parameters.body = BodyType::eight_bit_mime;
        } else {
            return failure(PathError::bad_parameter, "Unsupported BODY type");
        }
        return std::nullopt;
    }
    return failure(PathError::unknown_parameter, "Unsupported option: " + std::string(keyword));
}

// Mail-parameters = esmtp-param *(SP esmtp-param), RFC 5321 §4.1.2;
// runs of spaces are tolerated, as Postfix does.
std::optional<PathArgument> parse_parameters(std::string_view text, Role role,
                                             MailParameters& parameters) {
    for (;;) {
        while (text.starts_with(' ')) text.remove_prefix(1);
        if (text.empty()) return std::nullopt;
        std::size_t space = text.find(' ');
        std::string_view param = text.substr(0, space);
        text.remove_prefix(param.size());

        std::size_t equals = param.find('=');
        std::string_view keyword = param.substr(0, equals);
        std::optional<std::string_view> value;
        if (equals != std::string_view::npos) value = param.substr(equals + 1);
        if (!is_esmtp_keyword(keyword) || (value && !is_esmtp_value(*value)))
            return failure(PathError::bad_parameter, "Bad parameter syntax");
        // RCPT parameters exist only for extensions (DSN) we do not offer.
        if (role == Role::recipient)
            return failure(PathError::unknown_parameter,
                           "Unsupported option: " + std::string(keyword));
        if (auto error = apply_mail_parameter(keyword, value, parameters)) return error;
    }
}

// Splits "<path> params" (or a bare "mailbox params", which Postfix accepts
// although RFC 5321 §4.1.2 requires the brackets) into its two parts.
bool split_path(std::string_view text, std::string_view& path, std::string_view& rest) {
    if (text.starts_with('<')) {
        std::size_t close = closing_bracket(text);
        if (close == std::string_view::npos) return false;
        path = text.substr(1, close - 1);
        rest = text.substr(close + 1);
        return rest.empty() || rest.front() == ' ';
    }
    std::size_t space = text.find(' ');
    path = text.substr(0, space);
    rest = text.substr(path.size());
    return !path.empty();
}

PathArgument parse_argument(std::string_view argument, std::string_view keyword, Role role) {
    std::string_view syntax = role == Role::sender ? "Syntax: MAIL FROM:<address>"
                                                   : "Syntax: RCPT TO:<address>";
    if (!istarts_with(argument, keyword)) return failure(PathError::keyword, std::string(syntax));
    std::string_view text = argument.substr(keyword.size());
    // RFC 5321 §4.1.1.2 has no space after the colon; Postfix tolerates it.
    while (text.starts_with(' ')) text.remove_prefix(1);
    if (text.empty()) return failure(PathError::keyword, std::string(syntax));

    std::string_view path_text, rest;
    if (!split_path(text, path_text, rest)) return failure(PathError::address, "bad path");
    PathArgument result = parse_path(path_text, role);
    if (!result.ok()) return result;
    if (auto error = parse_parameters(rest, role, result.parameters)) return *error;
    return result;
}

}  // namespace

std::string Path::address() const {
    if (domain.empty()) return local_part;
    return local_part + "@" + domain;
}

std::string Path::unquoted_local_part() const {
    if (!local_part.starts_with('"')) return local_part;
    std::string out;
    for (std::size_t i = 1; i + 1 < local_part.size(); ++i) {
        if (local_part[i] == '\\') ++i;  // quoted-pairSMTP: keep the escaped octet
        out += local_part[i];
    }
    return out;
}

PathArgument parse_mail_from(std::string_view argument) {
    return parse_argument(argument, "FROM:", Role::sender);
}

PathArgument parse_rcpt_to(std::string_view argument) {
    return parse_argument(argument, "TO:", Role::recipient);
}

}  // namespace bm::apps
