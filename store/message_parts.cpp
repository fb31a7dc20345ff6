#include "store/message_parts.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vector>

#include "store/file_io.hpp"

namespace bm::store {
namespace {

int for_each_text_piece(std::string_view text,
                        const std::function<int(std::string_view)>& sink) {
    for (std::size_t at = 0; at < text.size(); at += message_piece)
        if (int err = sink(text.substr(at, message_piece)); err != 0) return err;
    return 0;
}

// The spool's octets from `from` on, in pieces.
int for_each_spool_piece(const MessageParts& message, std::uint64_t from,
                         const std::function<int(std::string_view)>& sink) {
    std::vector<char> buffer(message_piece);
    for (std::uint64_t offset = from; offset < message.spool_size;) {
        std::size_t want = static_cast<std::size_t>(
            std::min<std::uint64_t>(buffer.size(), message.spool_size - offset));
        ssize_t n = ::pread(message.spool_fd, buffer.data(), want,
                            static_cast<off_t>(message.spool_offset + offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return EIO;  // shorter than it was written: never store a cut message
        if (int err = sink(std::string_view(buffer.data(), static_cast<std::size_t>(n))); err != 0)
            return err;
        offset += static_cast<std::uint64_t>(n);
    }
    return 0;
}

// All of `pieces` with as few system calls as writev allows.
int write_all_of(int fd, std::vector<std::string_view> pieces) {
    std::erase_if(pieces, [](std::string_view p) { return p.empty(); });
    std::size_t first = 0;
    while (first < pieces.size()) {
        std::array<iovec, 4> iov{};
        std::size_t count = std::min(iov.size(), pieces.size() - first);
        for (std::size_t i = 0; i < count; ++i)
            iov[i] = {const_cast<char*>(pieces[first + i].data()), pieces[first + i].size()};
        ssize_t n = ::writev(fd, iov.data(), static_cast<int>(count));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return ENOSPC;  // as write_all: no room at a quota boundary
        auto left = static_cast<std::size_t>(n);
        while (first < pieces.size() && left >= pieces[first].size()) left -= pieces[first++].size();
        if (left > 0) pieces[first].remove_prefix(left);
    }
    return 0;
}

// Read and written in pieces: for file systems copy_file_range refuses.
int copy_by_reading(const MessageParts& message, std::uint64_t from, int out_fd) {
    return for_each_spool_piece(message, from,
                                [out_fd](std::string_view piece) { return write_all(out_fd, piece); });
}

int copy_spool(const MessageParts& message, int out_fd) {
    auto start = static_cast<loff_t>(message.spool_offset);
    loff_t offset = start;
    loff_t end = start + static_cast<loff_t>(message.spool_size);
    while (offset < end) {
        ssize_t n = ::copy_file_range(message.spool_fd, &offset, out_fd, nullptr,
                                      static_cast<std::size_t>(end - offset), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
            return copy_by_reading(message, static_cast<std::uint64_t>(offset - start), out_fd);
        if (n < 0) return errno;
        if (n == 0) return EIO;  // the spool is shorter than it was written
    }
    return 0;
}

}  // namespace

int for_each_piece(const MessageParts& message, const std::function<int(std::string_view)>& sink) {
    if (int err = for_each_text_piece(message.head, sink); err != 0) return err;
    if (message.spool_fd >= 0)
        if (int err = for_each_spool_piece(message, 0, sink); err != 0) return err;
    return for_each_text_piece(message.tail, sink);
}

int write_message(int fd, std::string_view preamble, const MessageParts& message) {
    if (message.spool_fd < 0 || message.spool_size == 0)
        return write_all_of(fd, {preamble, message.head, message.tail});
    if (int err = write_all_of(fd, {preamble, message.head}); err != 0) return err;
    if (int err = copy_spool(message, fd); err != 0) return err;
    return write_all(fd, message.tail);
}

int create_with_message(const std::string& path, std::string_view preamble,
                        const MessageParts& message, int& fd) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    int err = write_message(fd, preamble, message);
    if (err != 0) {
        ::close(fd);
        fd = -1;
        ::unlink(path.c_str());
    }
    return err;
}

}  // namespace bm::store
