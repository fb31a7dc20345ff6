// A message to store as the SMTP session hands it over: the fields it adds
// in front (header fill), the octets spooled to a file while DATA arrived,
// and the last octets. Writers copy the file part piece by piece (or in the
// kernel), so storing a message of any size holds none of it whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace bm::store {

struct MessageParts {
    std::string_view head;
    int spool_fd = -1;  // read with pread; none when < 0
    std::uint64_t spool_size = 0;
    std::string_view tail;
    // Where the spool octets start in its file: 0 for a spool, the end of
    // the header for a queue file whose text is copied into its next version.
    std::uint64_t spool_offset = 0;

    std::uint64_t size() const { return head.size() + spool_size + tail.size(); }
};

// A message held whole.
inline MessageParts whole_message(std::string_view text) { return MessageParts{text, -1, 0, {}}; }

// The most a piece handed to a sink holds.
constexpr std::size_t message_piece = 64 * 1024;

// Calls `sink` with the message in order, in pieces of at most
// message_piece octets. Stops at the first non-zero value `sink` returns and
// returns it; otherwise 0, or an errno value from reading the spool.
int for_each_piece(const MessageParts& message, const std::function<int(std::string_view)>& sink);

// Writes `preamble` and then the message at the file position of `fd`; the
// spool octets go file to file in the kernel (copy_file_range) where the
// file systems allow it. Returns 0 or an errno value.
int write_message(int fd, std::string_view preamble, const MessageParts& message);

// Creates `path` exclusively (mode 0600) and writes `preamble` and the
// message into it; on failure nothing is left behind. Returns 0 or errno;
// `fd` stays open.
int create_with_message(const std::string& path, std::string_view preamble,
                        const MessageParts& message, int& fd);

}  // namespace bm::store
