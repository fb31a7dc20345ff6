#include "apps/ipv4_text.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace bm {

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
    std::string s(text);
    in_addr addr{};
    if (inet_pton(AF_INET, s.c_str(), &addr) != 1) return std::nullopt;
    return ntohl(addr.s_addr);
}

// By hand rather than inet_ntop, which formats each octet with sprintf:
// the DPDK build names every connection's peer this way, and inet_ntop was
// a tenth of an SMTP session's instructions in the engine (callgrind).
std::string format_ipv4(std::uint32_t address) {
    char buf[INET_ADDRSTRLEN];
    char* at = buf;
    for (int shift = 24; shift >= 0; shift -= 8) {
        at = std::to_chars(at, buf + sizeof buf, (address >> shift) & 0xffu).ptr;
        if (shift != 0) *at++ = '.';
    }
    return std::string(buf, at);
}

}  // namespace bm
