// Bounded line assembly for text protocols (SMTP commands, POP3, echo).
//
// Bytes arrive split anywhere, several lines per segment (pipelining). A
// line ends at LF; a CR just before it is dropped (bare LF is tolerated in
// commands, as Postfix and Dovecot do). A line longer than the limit is
// discarded up to its LF and reported once as too_long, so the session can
// answer it and go on. Raw access lets SMTP take DATA bytes unframed.
//
// Bytes are copied only when they must wait: a machine that reads a
// segment where it lies (next_in) gets views into it for every whole line,
// and only the start of a line cut by the segment's end is kept here.
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
    // Takes bytes up to and including the first LF (as many as fit): the
    // end of the line held, not the lines after it.
    std::size_t feed_line_end(std::string_view bytes);
    // The next complete line, or nothing until more bytes arrive.
    std::optional<Line> next();
    // The next line read straight from `input`, when nothing is held
    // (empty()): a whole line is a view into `input`, valid as long as it
    // is; the start of a line that `input` cuts is kept (or, once past the
    // limit, dropped) and nothing is returned. `used` = octets of `input`
    // taken.
    std::optional<Line> next_in(std::string_view input, std::size_t& used);

    // Unframed access (SMTP DATA): what is buffered and not yet consumed.
    std::string_view raw() const { return {buf_.data() + head_, buf_.size() - head_}; }
    void consume_raw(std::size_t n);
    bool empty() const { return head_ == buf_.size(); }
    // Back to no bytes held, the buffer's capacity kept (a pooled reader
    // passed from one session to the next).
    void clear() {
        buf_.clear();
        head_ = 0;
        discarding_ = false;
    }
    std::size_t max_line() const { return max_line_; }
    std::size_t capacity() const { return capacity_; }

private:
    std::optional<Line> frame(std::string_view pending, std::size_t& used);
    void compact();

    std::size_t max_line_;
    std::size_t capacity_;
    std::string buf_;
    std::size_t head_ = 0;           // first unconsumed byte
    bool discarding_ = false;        // inside an over-long line
};

}  // namespace bm::apps
