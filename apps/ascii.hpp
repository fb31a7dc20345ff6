// ASCII case folding for the protocols' case-insensitive parts: SMTP verbs,
// ESMTP keywords and domains (RFC 5321 §2.4), header field names (RFC 5322
// §1.2.2), DNS names (RFC 1035 §2.3.3). Octets outside A-Z are left as
// they are, whatever the locale: std::tolower would not promise that.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bm::apps {

constexpr char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string lower_copy(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = to_lower(c);
    return out;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    return true;
}

constexpr bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace bm::apps
