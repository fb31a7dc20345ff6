#include "apps/data_reader.hpp"

#include <cstring>

namespace bm::apps {

namespace {

// The first `c` in [from, to), or `to`.
const char* find(const char* from, const char* to, char c) {
    const void* hit = std::memchr(from, c, static_cast<std::size_t>(to - from));
    return hit ? static_cast<const char*>(hit) : to;
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
        const char* lf = find(p, end, '\n');
        const char* cr = find(p, lf, '\r');
        if (lf != end && cr + 1 == lf) {  // the line ends in CRLF
            p = lf + 1;
            if (p == end || *p == '.') {
                state_ = State::line_start;
                return through(p);
            }
            continue;
        }
        if (cr != lf) {  // a CR whose next octet is not LF, or not here yet
            state_ = State::cr;
            Piece piece = through(cr);
            ++piece.consumed;
            return piece;
        }
        state_ = State::text;
        if (lf == end) return through(end);
        bare_newline_ = true;  // RFC 5321 §2.3.8: LF without CR, kept as text
        p = lf + 1;
        if (p == end) return through(end);
    }
}

}  // namespace bm::apps
