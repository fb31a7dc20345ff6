// Bounded line assembly for text protocols (SMTP commands, POP3, echo).
//
// Bytes arrive split anywhere, several lines per segment (pipelining). A
// line ends at LF; a CR just before it is dropped (bare LF is tolerated in
// commands, as Postfix and Dovecot do). A line longer than the limit is
// discarded up to its LF and reported once as too_long, so the session can
// answer it and go on. Raw access lets SMTP take DATA bytes unframed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace bm::apps {

class LineReader {
public:
    enum class Kind { line, too_long };
    struct Line {
        Kind kind;
        std::string_view text;  // without CRLF; valid until the next call
    };

    // max_line counts the terminating CRLF (RFC 5321 §4.5.3.1: 1000 octets).
    explicit LineReader(std::size_t max_line, std::size_t capacity = 0);

    // Takes as many bytes as fit in the buffer; returns how many.
    std::size_t feed(std::string_view bytes);
    // The next complete line, or nothing until more bytes arrive.
    std::optional<Line> next();

    // Unframed access (SMTP DATA): what is buffered and not yet consumed.
    std::string_view raw() const { return {buf_.data() + head_, buf_.size() - head_}; }
    void consume_raw(std::size_t n);
    bool empty() const { return head_ == buf_.size(); }
    std::size_t max_line() const { return max_line_; }

private:
    void compact();

    std::size_t max_line_;
    std::size_t capacity_;
    std::string buf_;
    std::size_t head_ = 0;           // first unconsumed byte
    bool discarding_ = false;        // inside an over-long line
    std::string_view last_;          // storage for the returned view
};

}  // namespace bm::apps
