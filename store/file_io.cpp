#include "store/file_io.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bm::store {

void UniqueFd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

void discard_staged(StagedFile& file) {
    if (file.fd >= 0) ::close(file.fd);
    file.fd = -1;
    if (!file.tmp_path.empty()) ::unlink(file.tmp_path.c_str());
}

int create_and_write(const std::string& path, std::string_view data, int& fd) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    int err = write_all(fd, data);
    if (err != 0) {
        ::close(fd);
        fd = -1;
        ::unlink(path.c_str());
    }
    return err;
}

int write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        // A write of 0 bytes for a non-empty buffer means no room (e.g. a
        // quota reached exactly at the boundary); report it as a full disk.
        if (n == 0) return ENOSPC;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

int read_all(int fd, std::string& out) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return errno;
    out.clear();
    out.reserve(static_cast<std::size_t>(st.st_size));
    char buf[65536];
    off_t offset = 0;
    for (;;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, offset);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return 0;
        out.append(buf, static_cast<std::size_t>(n));
        offset += n;
    }
}

int read_file(const std::string& path, std::string& out) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return errno;
    return read_all(fd.get(), out);
}

int fsync_dir(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return errno;
    if (::fsync(fd.get()) != 0) return errno;
    return 0;
}

bool is_directory(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_regular_file(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string errno_text(int err) {
    char buf[256];
    // GNU strerror_r returns the message, possibly not in buf.
    return ::strerror_r(err, buf, sizeof buf);
}

std::string parent_dir(const std::string& path) {
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

}  // namespace bm::store
