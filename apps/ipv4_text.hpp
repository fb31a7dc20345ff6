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

// "a.b.c.d" or "a.b.c.d:port" in a buffer of its own, for text needed only
// for the moment (a log line, a Received: field): what is kept per
// connection is the 4-byte address, never its text.
class Ipv4Text {
public:
    explicit Ipv4Text(std::uint32_t address);
    Ipv4Text(std::uint32_t address, std::uint16_t port);
    std::string_view view() const { return {chars_, size_}; }

private:
    char chars_[21];  // 15 for the quad, ':' and 5 digits
    std::uint8_t size_ = 0;
};

}  // namespace bm
