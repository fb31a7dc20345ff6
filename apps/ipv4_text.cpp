#include "apps/ipv4_text.hpp"

#include <arpa/inet.h>

namespace bm {

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
    std::string s(text);
    in_addr addr{};
    if (inet_pton(AF_INET, s.c_str(), &addr) != 1) return std::nullopt;
    return ntohl(addr.s_addr);
}

std::string format_ipv4(std::uint32_t address) {
    in_addr addr{htonl(address)};
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr, buf, sizeof buf);
    return buf;
}

}  // namespace bm
