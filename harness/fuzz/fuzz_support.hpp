// What every fuzz target shares: reading the input (a few settings octets,
// then a byte stream), deterministic choices derived from the settings,
// and the checks that turn a broken invariant into a crash libFuzzer
// reports (abort with a reason on stderr).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dataplane/common/event_log.hpp"

namespace bm::fuzz {

[[noreturn]] inline void fail(std::string_view what, std::string_view detail = {}) {
    std::fprintf(stderr, "INVARIANT BROKEN: %.*s", int(what.size()), what.data());
    if (!detail.empty()) {
        std::string shown = escape_log_field(detail.substr(0, 400));
        std::fprintf(stderr, " [%s]", shown.c_str());
    }
    std::fputc('\n', stderr);
    std::abort();
}

inline void check(bool ok, std::string_view what, std::string_view detail = {}) {
    if (!ok) fail(what, detail);
}

// The input: `settings` octets first (missing ones read as 0), the rest
// is the stream a peer sends.
struct Input {
    Input(const std::uint8_t* data, std::size_t size, std::size_t settings)
        : head(data, size < settings ? size : settings),
          stream(reinterpret_cast<const char*>(data) + head.size(), size - head.size()) {}
    std::uint8_t setting(std::size_t i) const { return i < head.size() ? head[i] : 0; }
    std::basic_string_view<std::uint8_t> head;
    std::string_view stream;
};

// A small LCG: the same input always makes the same choices.
class Choices {
public:
    explicit Choices(std::uint64_t seed) : state_(seed * 6364136223846793005ull + 1442695040888963407ull) {}
    std::uint32_t next(std::uint32_t bound) {
        state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
        return bound == 0 ? 0 : std::uint32_t((state_ >> 33) % bound);
    }

private:
    std::uint64_t state_;
};

// RFC 5321 §2.3.8, RFC 1939 §3: lines end in CRLF and nothing else; no
// CR or LF stands alone. `whole`: the text is complete, so it ends with a
// line end (or is empty); otherwise its last line may still be cut.
inline void check_crlf_only(std::string_view text, std::string_view what, bool whole = true) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r') check(i + 1 == text.size() ? !whole : text[i + 1] == '\n', what, text);
        if (text[i] == '\n') check(i > 0 && text[i - 1] == '\r', what, text);
    }
    if (whole && !text.empty()) check(text.back() == '\n', what, text);
}

// A field as the log writes it: no octet that could end or forge a line
// survives the escaping, and the escaping loses nothing (it reads back).
inline void check_log_field(std::string_view field) {
    std::string shown = escape_log_field(field);
    std::string back;
    for (std::size_t i = 0; i < shown.size(); ++i) {
        auto c = static_cast<unsigned char>(shown[i]);
        check(c >= 0x20 && c != 0x7f, "control octet in an escaped log field", field);
        if (c == '\\') {
            check(i + 3 < shown.size() && shown[i + 1] == 'x', "stray backslash in an escaped log field", field);
            back.push_back(char(std::stoi(std::string(shown.substr(i + 2, 2)), nullptr, 16)));
            i += 3;
        } else {
            back.push_back(char(c));
        }
    }
    check(back == field, "escaped log field does not read back", field);
}

}  // namespace bm::fuzz
