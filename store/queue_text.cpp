#include "store/queue_text.hpp"

#include <algorithm>
#include <cerrno>
#include <unistd.h>

#include "store/log.hpp"
#include "store/message_parts.hpp"
#include "store/queue.hpp"

namespace bm::store::queue {
namespace {

// A reader its session left (connection gone, read failed) is closed after
// this, so a finished message's file does not stay held open for long.
constexpr std::chrono::seconds idle_reader{120};

// Appends up to `want` octets of the text at `offset` (pread: many readers
// may share nothing but the file). EIO when the file is shorter than its
// size said: never hand out a cut message as whole.
int read_piece(int fd, std::uint64_t body_offset, std::uint64_t offset, std::size_t want,
               std::string& out) {
    std::size_t start = out.size();
    out.resize(start + want);
    std::size_t got = 0;
    while (got < want) {
        ssize_t n = ::pread(fd, out.data() + start + got, want - got,
                            static_cast<off_t>(body_offset + offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            out.resize(start);
            return n < 0 ? errno : EIO;
        }
        got += static_cast<std::size_t>(n);
    }
    return 0;
}

// Calls `sink` with the text of QUEUE/<name> in pieces until it returns
// false or the text ends.
template <typename Sink>
Status for_each_text_piece(const std::string& queue_dir, const std::string& name, Sink sink) {
    Entry entry;
    UniqueFd fd;
    if (Status s = read_envelope(queue_dir, name, entry, &fd); s != Status::ok) return s;
    std::string piece;
    for (std::uint64_t offset = 0; offset < entry.content_size; offset += piece.size()) {
        piece.clear();
        std::size_t want = static_cast<std::size_t>(
            std::min<std::uint64_t>(message_piece, entry.content_size - offset));
        if (int err = read_piece(fd.get(), entry.body_offset, offset, want, piece); err != 0)
            return status_from_errno(err);
        if (!sink(std::string_view(piece))) break;
    }
    return Status::ok;
}

}  // namespace

Status text_facts(const std::string& queue_dir, const std::string& name, TextFacts& facts) {
    facts = TextFacts{};
    return for_each_text_piece(queue_dir, name, [&facts](std::string_view piece) {
        facts.size += piece.size();
        if (!facts.eight_bit)
            facts.eight_bit = std::any_of(piece.begin(), piece.end(),
                                          [](char c) { return static_cast<unsigned char>(c) > 127; });
        return true;
    });
}

Status read_header_section(const std::string& queue_dir, const std::string& name,
                           std::size_t cap, std::string& out) {
    out.clear();
    return for_each_text_piece(queue_dir, name, [&out, cap](std::string_view piece) {
        std::size_t from = out.size() < 3 ? 0 : out.size() - 3;
        out.append(piece.substr(0, cap - out.size()));
        if (out.starts_with("\r\n")) {  // no header fields at all
            out.resize(2);
            return false;
        }
        if (auto end = out.find("\r\n\r\n", from); end != std::string::npos) {
            out.resize(end + 4);
            return false;
        }
        return out.size() < cap;
    });
}

Status TextReaders::read(const std::string& queue_dir, const std::string& name,
                         std::uint64_t offset, std::uint32_t max_bytes, std::string& piece,
                         bool& end) {
    piece.clear();
    end = false;
    Status status = Status::ok;
    auto it = find_or_open(queue_dir, name, offset, status);
    if (status != Status::ok) return status;
    Reader& r = *it;
    std::uint64_t left = r.size > offset ? r.size - offset : 0;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, left));
    if (int err = read_piece(r.fd.get(), r.body_offset, offset, want, piece); err != 0) {
        readers_.erase(it);
        log_line("queue file " + queue_dir + "/" + name + ": " + errno_text(err));
        return status_from_errno(err);
    }
    r.position = offset + want;
    end = r.position >= r.size;
    if (end) readers_.erase(it);  // the stream is over: its file is closed now
    return Status::ok;
}

// The reader whose next piece starts at `offset`, moved to the front; or a
// new one on the current version of the file.
std::list<TextReaders::Reader>::iterator TextReaders::find_or_open(const std::string& queue_dir,
                                                                  const std::string& name,
                                                                  std::uint64_t offset,
                                                                  Status& status) {
    Clock::time_point now = Clock::now();
    close_idle(now);
    auto it = std::find_if(readers_.begin(), readers_.end(), [&](const Reader& r) {
        return r.name == name && r.position == offset;
    });
    if (it == readers_.end()) {
        Entry entry;
        Reader reader;
        status = read_envelope(queue_dir, name, entry, &reader.fd);
        if (status != Status::ok) return readers_.end();
        reader.name = name;
        reader.body_offset = entry.body_offset;
        reader.size = entry.content_size;
        readers_.push_front(std::move(reader));
        it = readers_.begin();
        if (readers_.size() > max_open_) readers_.pop_back();
    } else {
        readers_.splice(readers_.begin(), readers_, it);
    }
    it->used = now;
    return it;
}

void TextReaders::close_idle(Clock::time_point now) {
    while (!readers_.empty() && now - readers_.back().used > idle_reader) readers_.pop_back();
}

}  // namespace bm::store::queue
