// The text of SMTP DATA as it arrives, read in spans: dot-stuffing undone,
// the end of the data found, bare CR and LF noticed.
//
// Read first: RFC 5321 §4.1.1.4 (the data ends at <CRLF>.<CRLF>; the CRLF
// before the dot is the last line's own, and at the very start the DATA
// line's), §4.5.2 (a leading dot of a line is removed), §2.3.8 (CR and LF
// only as CRLF; we refuse a message with a bare one, so it cannot smuggle a
// second message past another server).
//
// The input may be cut anywhere, between CR and LF too; whatever decides
// across a cut is carried in a state of one octet. Inside a cut the line
// breaks are found 16 octets at a time (as memchr does) and whole runs of
// lines are handed on as spans of the input, so a message costs a few
// steps per line, not one per octet.
#pragma once

#include <cstddef>
#include <string_view>

namespace bm::apps {

class DataReader {
public:
    struct Piece {
        // Message octets, un-stuffed: a span of the input, or a CR (CRLF)
        // held back at a cut. May be empty.
        std::string_view octets;
        std::size_t consumed = 0;  // input octets used up (0 is possible)
        bool end = false;          // <CRLF>.<CRLF> consumed: the message is complete
    };

    // The next piece of a non-empty `input`. Call again with what follows
    // the consumed octets until `end`, or until the input is used up; the
    // pieces' octets, in order, are the message.
    Piece next(std::string_view input);

    // RFC 5321 §2.3.8: a CR or LF outside a CRLF was seen in this message.
    bool bare_newline() const { return bare_newline_; }

    // A new message starts (the DATA line's CRLF has just passed).
    void reset() { *this = DataReader{}; }

private:
    // Where the reader stands inside the current line.
    enum class State { line_start, dot, dot_cr, text, cr };

    Piece resume(char c);
    Piece span(std::string_view input);

    State state_ = State::line_start;
    bool bare_newline_ = false;
};

}  // namespace bm::apps
