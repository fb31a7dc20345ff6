// A CRLF message turned into its mbox form as it is read, piece by piece:
// CRLF becomes LF (a lone CR stays), every line matching ^>*From  gets one
// more '>' (mboxrd, see store/mbox.hpp), and a text that does not end in LF
// gets one. Pieces may be cut anywhere. The '>' of a line start are put
// out as they come (the extra one can go anywhere in the run, they are all
// alike), so at most "From" is held back: memory stays bounded whatever
// the lines hold.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bm::store::mbox {

class Quoter {
public:
    // Appends the mbox form of the next octets of the CRLF text to `out`.
    void feed(std::string_view crlf, std::string& out);
    // The text has ended: appends what was held back and the final LF.
    void finish(std::string& out);

private:
    void put_lf_text(char c, std::string& out);
    void decide_line_start(char c, std::string& out);
    void emit(std::string_view text, std::string& out);
    std::size_t copy_run(std::string_view crlf, std::string& out);

    bool cr_pending_ = false;  // a CR whose next octet decides CRLF or lone CR
    bool deciding_ = true;     // at a line start, quoting not yet decided
    std::size_t matched_ = 0;  // how much of "From " followed the '>' run
    char last_ = 0;            // the last octet put out
    bool empty_ = true;        // nothing put out yet
};

}  // namespace bm::store::mbox
