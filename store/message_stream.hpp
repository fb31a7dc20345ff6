// A stored message turned into its POP3 text piece by piece, so that RETR
// and TOP of a big message never hold the whole message in memory. Every
// piece boundary is allowed anywhere: the pieces put together are byte for
// byte what the whole-text functions give (to_crlf for a Maildir file,
// mbox::message_text for an mbox message, top_of_message for TOP).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bm::store {

// LF -> CRLF as to_crlf does, optionally with the mboxrd un-quoting of
// mbox::message_text (one '>' less on lines matching ^>+From ). It is a
// byte-at-a-time state machine, so the raw text may be fed cut anywhere:
// at a line start it only counts the '>' run and the matched part of
// "From " until the line is decided, and never needs to look ahead.
class CrlfConverter {
public:
    explicit CrlfConverter(bool unquote_from_lines)
        : unquote_(unquote_from_lines), deciding_(unquote_from_lines) {}

    // Converts a prefix of `raw`, appending to `out` while out.size() < cap.
    // Returns how many raw bytes were consumed; the rest must be fed again.
    std::size_t feed(std::string_view raw, std::string& out, std::size_t cap);
    // The raw text has ended: appends what was held back and the final
    // CRLF to_crlf adds. True once everything is out; false when `out`
    // reached `cap` first (call again with more room).
    bool finish(std::string& out, std::size_t cap);

private:
    void step(char c);
    void step_line_start(char c);
    void release(std::uint64_t gts);
    void put(char c);
    bool drain(std::string& out, std::size_t cap);
    std::size_t copy_run(std::string_view raw, std::string& out, std::size_t cap);

    bool unquote_;
    bool deciding_;            // at a line start, quoting not yet decided
    std::uint64_t gt_run_ = 0; // '>' counted at this line start
    std::size_t matched_ = 0;  // how much of "From " followed them
    // Output produced but not yet appended for lack of room: held_gt_ '>'
    // (a '>' run can be any length) and then held_ (a few octets).
    std::uint64_t held_gt_ = 0;
    std::string held_;
    char prev_ = 0;            // last octet of the un-quoted text
    bool empty_ = true;        // no octet of the un-quoted text yet
    bool finished_ = false;
};

// RFC 1939 TOP on CRLF text arriving in pieces: the header through the
// first blank line ("\r\n" alone on its line), then `lines` lines of body;
// all of it when there is no blank line. lines < 0 keeps everything.
class TopCut {
public:
    explicit TopCut(std::int32_t lines) : left_(lines) {}
    // How many leading octets of `crlf` (the next octets of the text)
    // belong to the cut text.
    std::size_t keep(std::string_view crlf);
    bool done() const { return done_; }

private:
    std::int64_t left_;      // body lines still to keep
    bool in_header_ = true;
    int line_ = 0;           // header line so far: 0 nothing, 1 just "\r", 2 other
    bool done_ = false;
};

// One message read piece by piece from the octets [begin, end) of an open
// file (not owned): pread at a kept position, a raw buffer of about one
// piece, and the converter and cut state carried between pieces.
// Pathological case: a run of '>' at an mbox line start gives no output
// until the line is decided, so one piece may read the whole run (at most
// 1 MiB at a time; memory stays bounded, only the reading is longer).
class MessageStream {
public:
    MessageStream(int fd, std::uint64_t begin, std::uint64_t end, bool mbox,
                  std::int32_t top_lines)
        : fd_(fd), pos_(begin), end_(end), converter_(mbox), cut_(top_lines) {}

    // Replaces `piece` with the next at most max_bytes octets of the text
    // (at least one unless the text is complete); `end` once the piece
    // reaches the end of the text. Returns 0 or an errno value.
    int read(std::size_t max_bytes, std::string& piece, bool& end);
    // Reads and drops the next `count` octets of the text (or up to its end).
    int skip(std::uint64_t count);

    std::uint64_t offset() const { return offset_; }  // octets of text given so far
    std::uint64_t raw_bytes_read() const { return raw_bytes_read_; }

private:
    int refill(std::size_t room);
    bool raw_exhausted() const { return raw_pos_ == raw_.size() && pos_ == end_; }

    int fd_;
    std::uint64_t pos_, end_;
    std::string raw_;  // read from the file, not yet converted from raw_pos_
    std::size_t raw_pos_ = 0;
    CrlfConverter converter_;
    TopCut cut_;
    bool complete_ = false;  // the converter gave out everything
    std::uint64_t offset_ = 0;
    std::uint64_t raw_bytes_read_ = 0;
};

}  // namespace bm::store
