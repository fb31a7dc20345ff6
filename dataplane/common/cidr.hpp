// IPv4 CIDR blocks for --relay-from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bm {

struct Cidr {
    std::uint32_t network = 0;  // host byte order
    std::uint8_t prefix = 32;

    static std::optional<Cidr> parse(std::string_view text);  // "a.b.c.d[/n]"
    bool contains(std::uint32_t address) const;
};

std::optional<std::uint32_t> parse_ipv4(std::string_view text);  // host byte order
std::string format_ipv4(std::uint32_t address);

}  // namespace bm
