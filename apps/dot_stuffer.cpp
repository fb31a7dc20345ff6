#include "apps/dot_stuffer.hpp"

namespace bm::apps {

// A line starts after CRLF only (a bare LF is text, as the queue holds it),
// so the CR before a piece's first LF may have come with the last piece.
void DotStuffer::send(std::string_view piece, Transport& transport) {
    if (piece.empty()) return;
    std::size_t from = 0;
    for (std::size_t at = 0; at < piece.size();) {
        if (line_start_ && piece[at] == '.') {
            if (at > from) transport.send(piece.substr(from, at - from));
            transport.send(".");
            from = at;  // the line's own dot leaves with the next span
        }
        std::size_t eol = piece.find('\n', at);
        if (eol == std::string_view::npos) {
            line_start_ = false;
            break;
        }
        line_start_ = eol > 0 ? piece[eol - 1] == '\r' : after_cr_;
        at = eol + 1;
    }
    after_cr_ = piece.back() == '\r';
    if (from < piece.size()) transport.send(piece.substr(from));
}

}  // namespace bm::apps
