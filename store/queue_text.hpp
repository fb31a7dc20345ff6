// The message text of queue files read in parts, so the relay client never
// holds a queued message whole: ranged pieces for SMTP DATA, the facts MAIL
// FROM needs (size, 8-bit octets), and the header section a bounce quotes.
//
// Queue files are replaced by rename, never changed in place, and every
// version holds the same text after its header (only the header grows when
// a recipient's state changes). So a reader opens the current version,
// finds the text after its header, and may keep that file open between
// pieces: the octets it reads are those of any other version.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>

#include "store/file_io.hpp"
#include "store/commit_group.hpp"

namespace bm::store::queue {

struct TextFacts {
    std::uint64_t size = 0;  // octets of the text (RFC 1870 SIZE)
    bool eight_bit = false;  // any octet > 127 (RFC 6152 BODY=8BITMIME)
};

// Reads the text of QUEUE/<name> once, piece by piece.
Status text_facts(const std::string& queue_dir, const std::string& name, TextFacts& facts);

// The text of QUEUE/<name> up to and with its first empty line ("\r\n\r\n"),
// or its first `cap` octets when the header section is longer (or has no end).
Status read_header_section(const std::string& queue_dir, const std::string& name,
                           std::size_t cap, std::string& out);

// Ranged reads of queued texts for several streams at once. Each stream
// that continues where its last piece ended finds its file still open at
// a kept position (no reopen, no header parse); any other offset opens the
// file anew. Bounded: the least recently used streams, and streams idle
// for long (their session has gone), are closed.
class TextReaders {
public:
    explicit TextReaders(std::size_t max_open = 64) : max_open_(max_open) {}

    // At most max_bytes (> 0) octets of the text of QUEUE/<name> from
    // `offset`; `end` once the piece reaches the end of the text. When ok
    // and !end the piece is never empty.
    Status read(const std::string& queue_dir, const std::string& name, std::uint64_t offset,
                std::uint32_t max_bytes, std::string& piece, bool& end);
    std::size_t open_streams() const { return readers_.size(); }

private:
    using Clock = std::chrono::steady_clock;
    struct Reader {
        std::string name;
        UniqueFd fd;
        std::uint64_t body_offset = 0;
        std::uint64_t size = 0;
        std::uint64_t position = 0;  // offset in the text of the next piece
        Clock::time_point used;
    };
    std::list<Reader>::iterator find_or_open(const std::string& queue_dir, const std::string& name,
                                             std::uint64_t offset, Status& status);
    void close_idle(Clock::time_point now);

    std::size_t max_open_;
    std::list<Reader> readers_;  // most recently used first
};

}  // namespace bm::store::queue
