// Small POSIX file helpers shared by the mailbox formats and the queue.
// Every function returns 0 or an errno value instead of throwing, so the
// I/O worker's execute paths never unwind.
#pragma once

#include <string>
#include <string_view>

namespace bm::store {

// Owns one file descriptor.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

// A file written under a temporary name, not yet durable nor visible: the
// commit step syncs `fd`, renames `tmp_path` to `final_path`, syncs `dir`.
struct StagedFile {
    int fd = -1;
    std::string tmp_path;
    std::string final_path;
    std::string dir;  // the directory holding final_path
};

// Closes and unlinks a staged file that will not be committed.
void discard_staged(StagedFile& file);

// Creates `path` exclusively (mode 0600) and writes `data` into it; on
// failure nothing is left behind. Returns 0 or errno; `fd` stays open.
int create_and_write(const std::string& path, std::string_view data, int& fd);

// Writes all of `data` at the file position, retrying short writes.
int write_all(int fd, std::string_view data);
// Reads from offset 0 to end of file (pread: the file position is untouched).
int read_all(int fd, std::string& out);
int read_file(const std::string& path, std::string& out);
int fsync_dir(const std::string& dir);

bool is_directory(const std::string& path);
bool is_regular_file(const std::string& path);
std::string errno_text(int err);
std::string parent_dir(const std::string& path);

}  // namespace bm::store
