#include "store/mbox_scan.hpp"

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string_view>
#include <unistd.h>

#include "store/digest.hpp"
#include "store/file_io.hpp"
#include "store/message_stream.hpp"

namespace bm::store::mbox {
namespace {

constexpr std::string_view from_prefix = "From ";
// Output room of the converter while counting a POP3 size; the output
// itself is dropped.
constexpr std::size_t count_room = 64 * 1024;

// mbox::parse, message_text sizes and UIDL digests over pieces cut
// anywhere. Only a line start is ever held back (at most "From " before it
// is decided), so memory does not depend on line or message length.
class Scanner {
public:
    explicit Scanner(std::vector<ScannedMessage>& out) : out_(out) {}
    void feed(std::string_view piece, std::uint64_t base);
    void finish(std::uint64_t size);

private:
    // A line start is decided once it is "From " or can no longer become it.
    bool decided() const {
        return head_.size() == from_prefix.size() || !from_prefix.starts_with(head_);
    }
    void decide(std::uint64_t head_end);
    void consume(std::string_view part, std::uint64_t part_end);
    void start_message(std::uint64_t at);
    void close_message(std::uint64_t end);
    void text(std::string_view part);
    void hash_and_count(std::string_view raw);
    void drain_count();

    std::vector<ScannedMessage>& out_;
    std::string head_;          // the current line start, not yet decided
    bool line_start_ = true;
    std::uint64_t line_at_ = 0; // file offset of the current line
    bool open_ = false;         // out_.back() is still being scanned
    bool in_from_line_ = false;
    // A stored text's last LF may be the blank line before the next From_
    // line, which parse leaves out of the text: it is fed only once more
    // text follows.
    bool held_lf_ = false;
    Md5 md5_;
    CrlfConverter converter_{true};
    std::string converted_;     // scratch for the converter's output
    std::uint64_t size_ = 0;
};

void Scanner::feed(std::string_view piece, std::uint64_t base) {
    std::size_t i = 0;
    while (i < piece.size()) {
        if (line_start_) {
            while (i < piece.size() && !decided()) head_.push_back(piece[i++]);
            if (!decided()) return;  // the next piece decides
            decide(base + i);
            continue;
        }
        std::size_t eol = piece.find('\n', i);
        std::size_t n = (eol == std::string_view::npos ? piece.size() : eol + 1) - i;
        consume(piece.substr(i, n), base + i + n);
        i += n;
    }
}

void Scanner::finish(std::uint64_t size) {
    if (line_start_ && !head_.empty()) decide(size);  // too short to be "From "
    if (!open_) return;
    if (in_from_line_) out_.back().where.text_start = size;  // From_ line without LF
    close_message(size);
}

// As parse: every line starting "From " begins a message. The head holds
// no LF except as its last octet (a LF never matches "From ").
void Scanner::decide(std::uint64_t head_end) {
    line_start_ = false;
    if (head_ == from_prefix) start_message(line_at_);
    std::string head = std::move(head_);
    head_.clear();
    consume(head, head_end);
}

// `part` is part of one line, ending with its LF if it has one.
void Scanner::consume(std::string_view part, std::uint64_t part_end) {
    if (in_from_line_)
        md5_.update(part);
    else if (open_)
        text(part);
    if (!part.ends_with('\n')) return;
    line_start_ = true;
    line_at_ = part_end;
    if (in_from_line_) out_.back().where.text_start = part_end;
    in_from_line_ = false;
}

void Scanner::start_message(std::uint64_t at) {
    if (open_) close_message(at);
    out_.push_back({{at, 0, 0, 0}, 0, {}});
    open_ = in_from_line_ = true;
    held_lf_ = false;
    md5_.reset();
    converter_ = CrlfConverter(true);
    size_ = 0;
}

void Scanner::close_message(std::uint64_t end) {
    auto& m = out_.back();
    m.where.end = end;
    m.where.text_end = end - (held_lf_ ? 1 : 0);
    while (!converter_.finish(converted_, count_room)) drain_count();
    drain_count();
    m.size = size_;
    m.md5 = md5_.hex();
    open_ = false;
}

void Scanner::text(std::string_view part) {
    if (part.empty()) return;
    if (held_lf_) hash_and_count("\n");
    held_lf_ = part.back() == '\n';
    hash_and_count(held_lf_ ? part.substr(0, part.size() - 1) : part);
}

void Scanner::hash_and_count(std::string_view raw) {
    md5_.update(raw);
    while (!raw.empty()) {
        raw.remove_prefix(converter_.feed(raw, converted_, count_room));
        drain_count();
    }
}

void Scanner::drain_count() {
    size_ += converted_.size();
    converted_.clear();
}

// pread of up to `want` octets at `at`; 0 octets only at end of file.
int read_some(int fd, char* into, std::size_t want, std::uint64_t at, std::size_t& got) {
    for (;;) {
        ssize_t n = ::pread(fd, into, want, static_cast<off_t>(at));
        if (n >= 0) {
            got = static_cast<std::size_t>(n);
            return 0;
        }
        if (errno != EINTR) return errno;
    }
}

}  // namespace

int scan(int fd, Scan& out, std::size_t piece) {
    out = Scan{};
    Scanner scanner(out.messages);
    Md5 file_md5;
    std::string buf(piece, '\0');
    for (;;) {
        std::size_t got = 0;
        if (int err = read_some(fd, buf.data(), buf.size(), out.size, got); err != 0) return err;
        if (got == 0) break;
        std::string_view data(buf.data(), got);
        file_md5.update(data);
        scanner.feed(data, out.size);
        out.size += got;
    }
    scanner.finish(out.size);
    out.digest = file_md5.hex();
    return 0;
}

int md5_prefix(int fd, std::uint64_t size, std::string& hex, std::size_t piece) {
    Md5 md5;
    std::string buf(piece, '\0');
    for (std::uint64_t at = 0; at < size;) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(piece, size - at));
        std::size_t got = 0;
        if (int err = read_some(fd, buf.data(), want, at, got); err != 0) return err;
        if (got == 0) return EIO;  // shorter than `size`
        md5.update(std::string_view(buf.data(), got));
        at += got;
    }
    hex = md5.hex();
    return 0;
}

int copy_ranges(int from, int to, const std::vector<Range>& ranges, std::size_t piece) {
    std::string buf(piece, '\0');
    for (const auto& r : ranges) {
        for (std::uint64_t at = r.begin; at < r.end;) {
            std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(piece, r.end - at));
            std::size_t got = 0;
            if (int err = read_some(from, buf.data(), want, at, got); err != 0) return err;
            if (got == 0) return EIO;  // the file shrank under us
            if (int err = write_all(to, std::string_view(buf.data(), got)); err != 0) return err;
            at += got;
        }
    }
    return 0;
}

}  // namespace bm::store::mbox
