#include "store/mbox_quoter.hpp"

#include <algorithm>

namespace bm::store::mbox {
namespace {

constexpr std::string_view from_prefix = "From ";

}  // namespace

void Quoter::feed(std::string_view crlf, std::string& out) {
    std::size_t i = 0;
    while (i < crlf.size()) {
        if (!cr_pending_ && !deciding_ && crlf[i] != '\r' && crlf[i] != '\n') {
            i += copy_run(crlf.substr(i), out);
            continue;
        }
        char c = crlf[i++];
        if (cr_pending_) {
            cr_pending_ = false;
            if (c == '\n') {
                put_lf_text('\n', out);  // CRLF -> LF
                continue;
            }
            put_lf_text('\r', out);  // a lone CR is kept
        }
        if (c == '\r') {
            cr_pending_ = true;
        } else {
            put_lf_text(c, out);
        }
    }
}

void Quoter::finish(std::string& out) {
    if (cr_pending_) put_lf_text('\r', out);
    cr_pending_ = false;
    if (deciding_) emit(from_prefix.substr(0, matched_), out);  // a last line too short to be "From "
    deciding_ = false;
    matched_ = 0;
    if (!empty_ && last_ != '\n') emit("\n", out);
}

// Mid-line octets other than CR and LF come out unchanged: copy them in one go.
std::size_t Quoter::copy_run(std::string_view crlf, std::string& out) {
    std::size_t n = std::min(crlf.find_first_of("\r\n"), crlf.size());
    emit(crlf.substr(0, n), out);
    return n;
}

// One octet of the LF text.
void Quoter::put_lf_text(char c, std::string& out) {
    if (deciding_) return decide_line_start(c, out);
    emit(std::string_view(&c, 1), out);
    if (c == '\n') {
        deciding_ = true;
        matched_ = 0;
    }
}

// mboxrd: a line ^>*From  gets one more '>'.
void Quoter::decide_line_start(char c, std::string& out) {
    if (matched_ == 0 && c == '>') {
        emit(">", out);
        return;
    }
    if (c == from_prefix[matched_]) {
        if (++matched_ == from_prefix.size()) {
            emit(">", out);
            emit(from_prefix, out);
            deciding_ = false;
        }
        return;
    }
    emit(from_prefix.substr(0, matched_), out);  // not a From_ line: as it was
    deciding_ = false;
    put_lf_text(c, out);
}

void Quoter::emit(std::string_view text, std::string& out) {
    if (text.empty()) return;
    out.append(text);
    last_ = text.back();
    empty_ = false;
}

}  // namespace bm::store::mbox
