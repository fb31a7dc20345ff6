#include "store/message_stream.hpp"

#include <algorithm>
#include <cerrno>
#include <unistd.h>

namespace bm::store {
namespace {

constexpr std::string_view from_prefix = "From ";

// Raw read sizes: at least a page, so that tiny pieces do not cost a
// system call each; at most 1 MiB, so that a huge max_bytes does not
// double its memory in the raw buffer.
constexpr std::size_t min_read = 4096;
constexpr std::size_t max_read = 1 << 20;
constexpr std::size_t skip_piece = 64 * 1024;

}  // namespace

// ---- CrlfConverter -------------------------------------------------------

std::size_t CrlfConverter::feed(std::string_view raw, std::string& out, std::size_t cap) {
    std::size_t i = 0;
    // Held output goes first, so the octets leave in text order.
    while (i < raw.size() && drain(out, cap) && out.size() < cap) {
        if (!deciding_ && raw[i] != '\n') {
            i += copy_run(raw.substr(i), out, cap);
            continue;
        }
        step(raw[i++]);
    }
    return i;
}

bool CrlfConverter::finish(std::string& out, std::size_t cap) {
    if (!drain(out, cap)) return false;
    if (!finished_) {
        finished_ = true;
        if (deciding_) release(gt_run_);  // a last line too short to be ">From "
        // POP3 sends whole lines: to_crlf's final line end.
        if (!empty_ && prev_ != '\n') held_.append(prev_ == '\r' ? "\n" : "\r\n");
    }
    return drain(out, cap);
}

// Mid-line octets other than LF come out unchanged: copy them in one go.
std::size_t CrlfConverter::copy_run(std::string_view raw, std::string& out, std::size_t cap) {
    std::size_t n = std::min(raw.find('\n'), raw.size());
    n = std::min(n, cap - out.size());
    out.append(raw.data(), n);
    prev_ = raw[n - 1];
    empty_ = false;
    return n;
}

void CrlfConverter::step(char c) {
    if (deciding_) return step_line_start(c);
    put(c);
    if (c == '\n' && unquote_) deciding_ = true;
}

// mboxrd: a line ^>+From  loses one '>'. The '>' run is only counted (it
// may be longer than any piece), and "From " matched octet by octet.
void CrlfConverter::step_line_start(char c) {
    if (matched_ == 0 && c == '>') {
        ++gt_run_;
        return;
    }
    if (c == from_prefix[matched_]) {
        if (++matched_ == from_prefix.size()) release(gt_run_ > 0 ? gt_run_ - 1 : 0);
        return;
    }
    release(gt_run_);  // not a quoted line: everything held back comes out as it was
    step(c);
}

// The line start is decided: `gts` '>' and the matched part of "From ".
void CrlfConverter::release(std::uint64_t gts) {
    held_gt_ = gts;
    if (gts > 0) {
        prev_ = '>';
        empty_ = false;
    }
    for (std::size_t k = 0; k < matched_; ++k) put(from_prefix[k]);
    gt_run_ = 0;
    matched_ = 0;
    deciding_ = false;
}

// One octet of the un-quoted text, with to_crlf's CR before a bare LF.
void CrlfConverter::put(char c) {
    if (c == '\n' && prev_ != '\r') held_.push_back('\r');
    held_.push_back(c);
    prev_ = c;
    empty_ = false;
}

// Moves held output to `out` as room allows; true when nothing is held.
bool CrlfConverter::drain(std::string& out, std::size_t cap) {
    std::size_t room = cap > out.size() ? cap - out.size() : 0;
    auto gts = static_cast<std::size_t>(std::min<std::uint64_t>(held_gt_, room));
    out.append(gts, '>');
    held_gt_ -= gts;
    room -= gts;
    if (held_gt_ > 0) return false;
    std::size_t n = std::min(room, held_.size());
    out.append(held_, 0, n);
    held_.erase(0, n);
    return held_.empty();
}

// ---- TopCut ---------------------------------------------------------------

// As top_of_message: in CRLF text every LF ends a line, and the header
// ends at the first line that is exactly CRLF.
std::size_t TopCut::keep(std::string_view crlf) {
    if (left_ < 0) return crlf.size();
    std::size_t i = 0;
    while (i < crlf.size() && !done_) {
        if (!in_header_) {
            auto eol = crlf.find('\n', i);
            if (eol == std::string_view::npos) return crlf.size();
            i = eol + 1;
            if (--left_ == 0) done_ = true;
            continue;
        }
        char c = crlf[i++];
        if (c != '\n') {
            line_ = line_ == 0 && c == '\r' ? 1 : 2;
            continue;
        }
        bool blank = line_ == 1;
        line_ = 0;
        if (blank) {
            in_header_ = false;
            done_ = left_ == 0;
        }
    }
    return i;
}

// ---- MessageStream --------------------------------------------------------

int MessageStream::read(std::size_t max_bytes, std::string& piece, bool& end) {
    piece.clear();
    const std::size_t cap = std::max<std::size_t>(max_bytes, 1);
    while (piece.size() < cap && !cut_.done() && !complete_) {
        std::size_t before = piece.size();
        if (raw_pos_ == raw_.size() && pos_ < end_)
            if (int err = refill(cap - before); err != 0) return err;
        if (raw_pos_ < raw_.size())
            raw_pos_ += converter_.feed(std::string_view(raw_).substr(raw_pos_), piece, cap);
        else
            complete_ = converter_.finish(piece, cap);
        piece.resize(before + cut_.keep(std::string_view(piece).substr(before)));
    }
    // A piece that filled up exactly at the end of the text is the last
    // one; finish() adds nothing here, it only says whether more is held.
    if (!cut_.done() && !complete_ && raw_exhausted()) complete_ = converter_.finish(piece, cap);
    offset_ += piece.size();
    end = cut_.done() || complete_;
    return 0;
}

int MessageStream::skip(std::uint64_t count) {
    std::string scratch;
    bool end = false;
    while (count > 0 && !end) {
        if (int err = read(static_cast<std::size_t>(std::min<std::uint64_t>(count, skip_piece)),
                           scratch, end);
            err != 0)
            return err;
        count -= scratch.size();
    }
    return 0;
}

// About `room` raw octets: conversion only adds octets (bar one '>' per
// quoted mbox line), so a piece rarely needs more. What it leaves stays in
// raw_ for the next piece, so no octet is read twice.
int MessageStream::refill(std::size_t room) {
    std::size_t want = std::clamp(room, min_read, max_read);
    want = static_cast<std::size_t>(std::min<std::uint64_t>(want, end_ - pos_));
    raw_.resize(want);
    raw_pos_ = 0;
    std::size_t done = 0;
    while (done < want) {
        ssize_t n = ::pread(fd_, raw_.data() + done, want - done, static_cast<off_t>(pos_ + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;  // EIO: the file shrank under us
            raw_.clear();
            return err;
        }
        done += static_cast<std::size_t>(n);
    }
    pos_ += want;
    raw_bytes_read_ += want;
    return 0;
}

}  // namespace bm::store
