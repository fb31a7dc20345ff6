#include "apps/line_reader.hpp"

#include <algorithm>

namespace bm::apps {

LineReader::LineReader(std::size_t max_line, std::size_t capacity)
    : max_line_(max_line), capacity_(capacity ? capacity : 4 * max_line) {
    // No reserve: an idle connection holds no buffer until bytes arrive
    // (the buffer then keeps its capacity, so steady traffic does not malloc).
}

std::size_t LineReader::feed(std::string_view bytes) {
    compact();
    std::size_t room = capacity_ > buf_.size() ? capacity_ - buf_.size() : 0;
    std::size_t n = std::min(room, bytes.size());
    buf_.append(bytes.data(), n);
    return n;
}

std::size_t LineReader::feed_line_end(std::string_view bytes) {
    std::size_t lf = bytes.find('\n');
    return feed(lf == std::string_view::npos ? bytes : bytes.substr(0, lf + 1));
}

std::optional<LineReader::Line> LineReader::next() {
    std::size_t used = 0;
    std::optional<Line> line = frame(raw(), used);
    consume_raw(used);  // the view stays valid: compaction happens only in feed
    return line;
}

std::optional<LineReader::Line> LineReader::next_in(std::string_view input, std::size_t& used) {
    std::optional<Line> line = frame(input, used);
    if (!line && used == 0) used = feed(input);  // a cut line: its start waits here
    return line;
}

// The next line at the start of `pending`, and how much of it that uses.
// Without an LF nothing is used, unless the line is already too long to
// fit: then it is dropped up to its LF, wherever that comes.
std::optional<LineReader::Line> LineReader::frame(std::string_view pending, std::size_t& used) {
    std::size_t lf = pending.find('\n');
    if (discarding_) {
        if (lf == std::string_view::npos) {
            used = pending.size();
            return std::nullopt;
        }
        used = lf + 1;
        discarding_ = false;
        return Line{Kind::too_long, {}};
    }
    if (lf == std::string_view::npos) {
        // No end yet: once the partial line can no longer fit, drop it.
        discarding_ = pending.size() >= max_line_;
        used = discarding_ ? pending.size() : 0;
        return std::nullopt;
    }
    used = lf + 1;
    if (lf + 1 > max_line_) return Line{Kind::too_long, {}};
    std::size_t len = (lf > 0 && pending[lf - 1] == '\r') ? lf - 1 : lf;
    return Line{Kind::line, pending.substr(0, len)};
}

void LineReader::consume_raw(std::size_t n) {
    head_ = std::min(head_ + n, buf_.size());
}

void LineReader::compact() {
    if (head_ == 0) return;
    buf_.erase(0, head_);
    head_ = 0;
}

}  // namespace bm::apps
