#include "apps/ipv4_text.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <iterator>

namespace bm {

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
    std::string s(text);
    in_addr addr{};
    if (inet_pton(AF_INET, s.c_str(), &addr) != 1) return std::nullopt;
    return ntohl(addr.s_addr);
}

namespace {

// Every octet's decimal digits, padded to 3, then their count:
// one 3-byte copy per octet instead of to_chars' loop. The DPDK build names
// a peer in every log event of every session.
struct OctetDigits {
    char entry[256][4];
    constexpr OctetDigits() : entry{} {
        for (unsigned octet = 0; octet < 256; ++octet) {
            char* e = entry[octet];
            unsigned n = 0;
            if (octet >= 100) e[n++] = char('0' + octet / 100);
            if (octet >= 10) e[n++] = char('0' + octet / 10 % 10);
            e[n++] = char('0' + octet % 10);
            e[3] = char(n);
        }
    }
};
constexpr OctetDigits kOctetDigits;

char* put_octet(char* at, unsigned octet) {
    const char* e = kOctetDigits.entry[octet];
    std::memcpy(at, e, 3);  // the buffer has room: the last octet is followed by ':' and a port's
    return at + e[3];
}

}  // namespace

// By hand rather than inet_ntop, which formats each octet with sprintf:
// the DPDK build names every connection's peer this way, and inet_ntop was
// a tenth of an SMTP session's instructions in the engine (callgrind).
Ipv4Text::Ipv4Text(std::uint32_t address) {
    char* at = chars_;
    for (int shift = 24; shift >= 0; shift -= 8) {
        at = put_octet(at, (address >> shift) & 0xffu);
        if (shift != 0) *at++ = '.';
    }
    size_ = std::uint8_t(at - chars_);
}

Ipv4Text::Ipv4Text(std::uint32_t address, std::uint16_t port) : Ipv4Text(address) {
    char* at = chars_ + size_;
    *at++ = ':';
    at = std::to_chars(at, std::end(chars_), port).ptr;
    size_ = std::uint8_t(at - chars_);
}

std::string format_ipv4(std::uint32_t address) { return std::string(Ipv4Text(address).view()); }

}  // namespace bm
