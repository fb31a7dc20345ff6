// An mbox file read piece by piece, so that a POP3 session on a big mbox
// never holds the whole file: the snapshot scan gives what mbox::parse,
// mbox::message_text and hex_md5 give on the whole content, and the commit
// copies byte ranges instead of building the new content in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "store/mbox.hpp"

namespace bm::store::mbox {

// Large enough that a big mbox costs few system calls, small enough that
// the memory of a session does not grow with the file.
constexpr std::size_t scan_piece = 256 * 1024;

struct ScannedMessage {
    Message where;           // as mbox::parse gives it
    std::uint64_t size = 0;  // octets of mbox::message_text of the stored text
    std::string md5;         // hex MD5 of the From_ line and the stored text
};

struct Scan {
    std::uint64_t size = 0;  // octets read, up to end of file
    std::string digest;      // hex MD5 of those octets
    std::vector<ScannedMessage> messages;
};

// Reads `fd` from offset 0 to end of file in pieces of `piece` octets.
// Returns 0 or an errno value.
int scan(int fd, Scan& out, std::size_t piece = scan_piece);

// Hex MD5 of the first `size` octets of `fd`; EIO if the file is shorter.
int md5_prefix(int fd, std::uint64_t size, std::string& hex, std::size_t piece = scan_piece);

// Octets [begin, end) of a file.
struct Range {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
};

// Appends the `ranges` of `from` at the file position of `to`, in order.
// EIO if `from` is shorter than a range says.
int copy_ranges(int from, int to, const std::vector<Range>& ranges,
                std::size_t piece = scan_piece);

}  // namespace bm::store::mbox
