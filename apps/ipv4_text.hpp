// IPv4 addresses as dotted-quad text (RFC 1123 §2.1 a.b.c.d), as the
// options, the log, SMTP address literals (RFC 5321 §4.1.3) and DNS A
// records name them. Host byte order throughout.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bm {

std::optional<std::uint32_t> parse_ipv4(std::string_view text);
// At most 15 characters: fits a std::string's own buffer, no allocation.
std::string format_ipv4(std::uint32_t address);

}  // namespace bm
