// RFC 5321 §4.5.2 transparency for a message text sent in pieces: a line
// that begins with "." gets one more, so the server cannot take it for the
// end of the data. The pieces may be cut anywhere (mid-line, between CR and
// LF): whether the next octet starts a line is carried from one to the next.
#pragma once

#include <string_view>

#include "apps/session.hpp"

namespace bm::apps {

class DotStuffer {
public:
    // Sends `piece` through `transport` in spans between the added dots:
    // the transport copies once, no stuffed copy is built.
    void send(std::string_view piece, Transport& transport);
    // The text so far does not end with CRLF (nor is empty): the final
    // "." needs a CRLF in front to stand on a line of its own.
    bool mid_line() const { return !line_start_; }

private:
    bool line_start_ = true;  // the next octet begins a line (after CRLF, or the first)
    bool after_cr_ = false;   // the last octet sent was CR
};

}  // namespace bm::apps
