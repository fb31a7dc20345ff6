#include "apps/data_reader.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace bm::apps {

namespace {

// The first CR or LF in [from, to), or `to`: one pass for both, 16 octets
// a step where SSE2 is there (every x86-64), as memchr does for one octet.
const char* find_line_break(const char* from, const char* to) {
#if defined(__SSE2__)
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i lf = _mm_set1_epi8('\n');
    for (; to - from >= 16; from += 16) {
        const __m128i octets = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from));
        const int hits = _mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(octets, cr), _mm_cmpeq_epi8(octets, lf)));
        if (hits != 0) return from + __builtin_ctz(static_cast<unsigned>(hits));
    }
#endif
    for (; from < to; ++from)
        if (*from == '\r' || *from == '\n') return from;
    return to;
}

std::size_t distance(const char* from, const char* to) { return static_cast<std::size_t>(to - from); }

constexpr std::string_view cr = "\r";
constexpr std::string_view crlf = "\r\n";

}  // namespace

DataReader::Piece DataReader::next(std::string_view input) {
    if (state_ == State::line_start || state_ == State::text) return span(input);
    return resume(input.front());
}

// A state left at a cut (or by a dot or CR just taken) decided by one octet.
// A piece that consumes nothing hands that octet on as an ordinary one.
DataReader::Piece DataReader::resume(char c) {
    switch (state_) {
        case State::dot:
            if (c == '\r') {
                state_ = State::dot_cr;
                return {{}, 1, false};
            }
            state_ = State::text;  // RFC 5321 §4.5.2: the leading dot was stuffing
            return {{}, 0, false};
        case State::dot_cr:
            if (c == '\n') {
                state_ = State::line_start;
                return {{}, 1, true};  // RFC 5321 §4.1.1.4: <CRLF>.<CRLF>
            }
            bare_newline_ = true;  // RFC 5321 §2.3.8: ".<CR>" without LF
            state_ = State::text;
            return {cr, 0, false};
        case State::cr:
            if (c == '\n') {
                state_ = State::line_start;
                return {crlf, 1, false};
            }
            bare_newline_ = true;  // RFC 5321 §2.3.8: CR without LF
            state_ = State::text;
            return {cr, 0, false};
        case State::line_start:
        case State::text:
            break;
    }
    return {{}, 0, false};
}

// From line_start or text: whole lines in one span, up to the next line
// that starts with a dot, a CR that is not (yet) seen with its LF, or the
// end of the input.
DataReader::Piece DataReader::span(std::string_view input) {
    if (state_ == State::line_start && input.front() == '.') {
        state_ = State::dot;
        return {{}, 1, false};
    }
    const char* const begin = input.data();
    const char* const end = begin + input.size();
    auto through = [&](const char* p) {
        return Piece{{begin, distance(begin, p)}, distance(begin, p), false};
    };
    for (const char* p = begin;;) {
        const char* line_break = find_line_break(p, end);
        if (line_break == end) {
            state_ = State::text;
            return through(end);
        }
        if (*line_break == '\r') {
            if (line_break + 1 == end || line_break[1] != '\n') {
                // A CR whose next octet is not LF, or is not here yet.
                state_ = State::cr;
                Piece piece = through(line_break);
                ++piece.consumed;
                return piece;
            }
            p = line_break + 2;  // the line ends in CRLF
            if (p == end || *p == '.') {
                state_ = State::line_start;
                return through(p);
            }
            continue;
        }
        bare_newline_ = true;  // RFC 5321 §2.3.8: LF without CR, kept as text
        p = line_break + 1;
        if (p == end) {
            state_ = State::text;
            return through(end);
        }
    }
}

}  // namespace bm::apps
