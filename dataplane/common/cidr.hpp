// IPv4 CIDR blocks for --relay-from (RFC 4632).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "apps/ipv4_text.hpp"

namespace bm {

struct Cidr {
    std::uint32_t network = 0;  // host byte order
    std::uint8_t prefix = 32;

    static std::optional<Cidr> parse(std::string_view text);  // "a.b.c.d[/n]"
    bool contains(std::uint32_t address) const;
};

}  // namespace bm
