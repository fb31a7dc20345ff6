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

std::optional<LineReader::Line> LineReader::next() {
    std::string_view pending = raw();
    std::size_t lf = pending.find('\n');
    if (discarding_) {
        if (lf == std::string_view::npos) {
            consume_raw(pending.size());
            return std::nullopt;
        }
        consume_raw(lf + 1);
        discarding_ = false;
        return Line{Kind::too_long, {}};
    }
    if (lf == std::string_view::npos) {
        // No end yet: once the partial line can no longer fit, drop it.
        if (pending.size() >= max_line_) {
            discarding_ = true;
            consume_raw(pending.size());
        }
        return std::nullopt;
    }
    if (lf + 1 > max_line_) {
        consume_raw(lf + 1);
        return Line{Kind::too_long, {}};
    }
    std::size_t len = (lf > 0 && pending[lf - 1] == '\r') ? lf - 1 : lf;
    last_ = pending.substr(0, len);
    consume_raw(lf + 1);  // view stays valid: compaction happens only in feed
    return Line{Kind::line, last_};
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
