#include "apps/log_escape.hpp"

#include <cstring>

namespace bm {
namespace {

// RFC 3629 §4: the octets of one well-formed UTF-8 character starting at
// `p` (at most `n` available), or 0 when they are not one.
std::size_t utf8_length(const unsigned char* p, std::size_t n) {
    auto tail = [&](std::size_t i) { return i < n && (p[i] & 0xc0) == 0x80; };
    unsigned char lead = p[0];
    if (lead >= 0xc2 && lead <= 0xdf) return tail(1) ? 2 : 0;
    if (lead >= 0xe0 && lead <= 0xef) {
        if (n < 2) return 0;
        if (lead == 0xe0 && p[1] < 0xa0) return 0;  // overlong
        if (lead == 0xed && p[1] > 0x9f) return 0;  // UTF-16 surrogates
        return tail(1) && tail(2) ? 3 : 0;
    }
    if (lead >= 0xf0 && lead <= 0xf4) {
        if (n < 2) return 0;
        if (lead == 0xf0 && p[1] < 0x90) return 0;  // overlong
        if (lead == 0xf4 && p[1] > 0x8f) return 0;  // past U+10FFFF
        return tail(1) && tail(2) && tail(3) ? 4 : 0;
    }
    return 0;  // a continuation octet alone, C0/C1 (overlong), F5-FF
}

// U+0080-U+009F, the C1 controls, are C2 80 - C2 9F.
bool is_c1_control(const unsigned char* p, std::size_t length) { return length == 2 && p[0] == 0xc2 && p[1] < 0xa0; }

bool printable_ascii(unsigned char c) { return c >= 0x20 && c < 0x7f && c != '\\'; }

}  // namespace

std::size_t escape_log_field(std::string_view field, char* out, std::size_t room) {
    static constexpr char hex[] = "0123456789abcdef";
    const auto* p = reinterpret_cast<const unsigned char*>(field.data());
    std::size_t n = field.size(), at = 0, written = 0;
    while (at < n) {
        if (printable_ascii(p[at])) {
            if (written == room) break;
            out[written++] = char(p[at++]);
            continue;
        }
        std::size_t length = p[at] >= 0x80 ? utf8_length(p + at, n - at) : 0;
        if (length != 0 && !is_c1_control(p + at, length)) {
            if (room - written < length) break;
            std::memcpy(out + written, p + at, length);
            written += length;
            at += length;
            continue;
        }
        if (room - written < 4) break;
        out[written++] = '\\';
        out[written++] = 'x';
        out[written++] = hex[p[at] >> 4];
        out[written++] = hex[p[at] & 0xf];
        ++at;
    }
    return written;
}

std::string escape_log_field(std::string_view field) {
    std::string out(field.size() * 4, '\0');
    out.resize(escape_log_field(field, out.data(), out.size()));
    return out;
}

}  // namespace bm
