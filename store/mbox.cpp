#include "store/mbox.hpp"

#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "store/log.hpp"
#include "store/mbox_quoter.hpp"
#include "store/message_text.hpp"

namespace bm::store::mbox {
namespace {

using Clock = std::chrono::steady_clock;

// How long a delivery waits for another program's lock before giving up
// with a temporary failure (the SMTP client will retry).
constexpr auto lock_wait = std::chrono::seconds(10);
constexpr auto lock_retry = std::chrono::milliseconds(20);
// A dotlock untouched this long is left over from a crash (mutt and
// procmail use similar limits).
constexpr std::time_t stale_dotlock_seconds = 300;

bool is_from_line(std::string_view line) { return line.starts_with("From "); }

// ^>*From  : the lines mboxrd quotes.
bool needs_quoting(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && line[i] == '>') ++i;
    return is_from_line(line.substr(i));
}

// The dotlock is stale when old, or when it names a process that is gone.
bool dotlock_is_stale(const std::string& dotlock) {
    struct stat st {};
    if (::stat(dotlock.c_str(), &st) != 0) return false;
    if (std::time(nullptr) - st.st_mtime > stale_dotlock_seconds) return true;
    std::string content;
    if (read_file(dotlock, content) != 0) return false;
    long pid = 0;
    for (char c : content) {
        if (c == '\n') break;
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        pid = pid * 10 + (c - '0');
        if (pid > 1 << 22) return false;
    }
    return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

std::string sender_token(std::string_view sender) {
    if (sender.empty()) return "MAILER-DAEMON";
    std::string out(sender);
    // The From_ line is split at spaces; a quoted local part must not add fields.
    for (char& c : out)
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) c = '_';
    return out;
}

// What to write before the From_ line so that it starts a line after a
// blank one, even if the file was left without its final newline.
std::string separator_before(int fd, off_t size) {
    if (size == 0) return {};
    char tail[2] = {0, 0};
    off_t from = size >= 2 ? size - 2 : 0;
    ssize_t n = ::pread(fd, tail, static_cast<std::size_t>(size - from), from);
    if (n <= 0) return "\n\n";
    std::string_view last(tail, static_cast<std::size_t>(n));
    if (last.ends_with("\n\n") || (size == 1 && last == "\n")) return {};
    return last.ends_with('\n') ? "\n" : "\n\n";
}

// `block` (what goes before the message), the message in mbox form and
// the blank line after it, written as the message is read.
int write_entry(int fd, std::string block, const MessageParts& message) {
    Quoter quoter;
    int err = for_each_piece(message, [&](std::string_view piece) {
        quoter.feed(piece, block);
        if (block.size() < message_piece) return 0;
        int write_err = write_all(fd, block);
        block.clear();
        return write_err;
    });
    if (err != 0) return err;
    quoter.finish(block);
    block.push_back('\n');
    return write_all(fd, block);
}

Status sync_after_rename(const std::string& path, const std::string& dir);

}  // namespace

Status LockedMbox::lock(const std::string& path) {
    unlock();
    path_ = path;
    dotlock_ = path + ".lock";
    Status s = take_dotlock();
    if (s == Status::ok) s = open_and_lock_file();
    if (s != Status::ok) unlock();
    return s;
}

Status LockedMbox::take_dotlock() {
    auto deadline = Clock::now() + lock_wait;
    for (;;) {
        int fd = ::open(dotlock_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            std::string pid = std::to_string(::getpid()) + "\n";
            write_all(fd, pid);
            ::close(fd);
            return Status::ok;
        }
        int err = errno;
        if (err != EEXIST) {
            log_line("dotlock " + dotlock_ + ": " + errno_text(err));
            dotlock_.clear();
            return status_from_errno(err);
        }
        if (dotlock_is_stale(dotlock_)) {
            log_line("removing stale dotlock " + dotlock_);
            ::unlink(dotlock_.c_str());
            continue;
        }
        if (Clock::now() > deadline) {
            log_line("dotlock " + dotlock_ + " held by another program; giving up for now");
            dotlock_.clear();
            return Status::temp_failure;
        }
        std::this_thread::sleep_for(lock_retry);
    }
}

Status LockedMbox::open_and_lock_file() {
    auto deadline = Clock::now() + lock_wait;
    for (;;) {
        fd_.reset(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
        if (!fd_.valid()) {
            int err = errno;
            log_line("open " + path_ + ": " + errno_text(err));
            return status_from_errno(err);
        }
        struct flock whole {};
        whole.l_type = F_WRLCK;
        whole.l_whence = SEEK_SET;
        if (::fcntl(fd_.get(), F_OFD_SETLK, &whole) == 0) {
            // Someone may have renamed a new file over the path while we
            // waited; the lock must be on the file the path names now.
            struct stat held {}, named {};
            if (::fstat(fd_.get(), &held) == 0 && ::stat(path_.c_str(), &named) == 0 &&
                held.st_ino == named.st_ino && held.st_dev == named.st_dev)
                return Status::ok;
            continue;
        }
        int err = errno;
        if (err != EAGAIN && err != EACCES) {
            log_line("fcntl lock " + path_ + ": " + errno_text(err));
            return Status::temp_failure;
        }
        fd_.reset();
        if (Clock::now() > deadline) {
            log_line("mbox " + path_ + " locked by another program; giving up for now");
            return Status::temp_failure;
        }
        std::this_thread::sleep_for(lock_retry);
    }
}

void LockedMbox::unlock() {
    fd_.reset();  // closing the description releases the fcntl lock
    if (!dotlock_.empty()) ::unlink(dotlock_.c_str());
    dotlock_.clear();
}

std::string from_line(std::string_view sender, std::time_t when) {
    std::tm local{};
    ::localtime_r(&when, &local);
    char date[64] = {};
    ::asctime_r(&local, date);  // "Sun Nov 23 01:47:00 2025\n"
    return "From " + sender_token(sender) + " " + date;
}

Status append_durably(LockedMbox& box, std::string_view from, const MessageParts& message,
                      off_t& old_size) {
    int fd = box.fd();
    old_size = ::lseek(fd, 0, SEEK_END);
    if (old_size < 0) return status_from_errno(errno);
    int err = write_entry(fd, separator_before(fd, old_size) + std::string(from), message);
    if (err == 0 && ::fdatasync(fd) != 0) err = errno;
    if (err == 0) return Status::ok;
    log_line("append to " + box.path() + ": " + errno_text(err));
    truncate_back(box, old_size);
    return status_from_errno(err);
}

void truncate_back(LockedMbox& box, off_t old_size) {
    if (::ftruncate(box.fd(), old_size) != 0 || ::fdatasync(box.fd()) != 0)
        log_line("cannot cut " + box.path() + " back to " + std::to_string(old_size) +
                 " octets: " + errno_text(errno));
}

std::vector<Message> parse(std::string_view file) {
    std::vector<Message> out;
    std::size_t pos = 0;
    while (pos < file.size()) {
        auto eol = file.find('\n', pos);
        std::size_t next = eol == std::string_view::npos ? file.size() : eol + 1;
        if (is_from_line(file.substr(pos, next - pos))) {
            if (!out.empty()) out.back().end = pos;
            out.push_back({pos, next, 0, 0});
        }
        pos = next;
    }
    if (!out.empty()) out.back().end = file.size();
    for (auto& m : out) {
        m.text_end = m.end;
        // The blank line before the next From_ line separates; it is not text.
        if (m.text_end > m.text_start && file[m.text_end - 1] == '\n') --m.text_end;
    }
    return out;
}

std::string message_text(std::string_view stored) {
    std::string unquoted;
    unquoted.reserve(stored.size());
    while (!stored.empty()) {
        auto eol = stored.find('\n');
        std::string_view line =
            stored.substr(0, eol == std::string_view::npos ? stored.size() : eol + 1);
        stored.remove_prefix(line.size());
        if (line.starts_with('>') && needs_quoting(line)) line.remove_prefix(1);
        unquoted.append(line);
    }
    return to_crlf(unquoted);
}

Status replace_contents(LockedMbox& box, std::string_view contents) {
    return replace_contents(box, [contents](int fd) { return write_all(fd, contents); });
}

Status replace_contents(LockedMbox& box, const ContentWriter& write) {
    std::string dir = parent_dir(box.path());
    std::string name = box.path().substr(box.path().find_last_of('/') + 1);
    // A leading dot keeps the temp file from ever being taken for a user.
    std::string tmp = dir + "/." + name + ".rewrite";
    struct stat st {};
    if (::fstat(box.fd(), &st) != 0) return status_from_errno(errno);
    ::unlink(tmp.c_str());  // left over from a crash during a rewrite
    int fd = -1;
    int err = create_and_write(tmp, {}, fd);
    UniqueFd owned(fd);  // closed before the unlink below, if that is reached
    if (err == 0) err = write(fd);
    if (err == 0) {
        ::fchmod(fd, st.st_mode & 07777);
        if (::fchown(fd, st.st_uid, st.st_gid) != 0) {}  // only root can; fine otherwise
        if (::fdatasync(fd) != 0) err = errno;
        if (err == 0 && ::rename(tmp.c_str(), box.path().c_str()) != 0) err = errno;
        if (err == 0) return sync_after_rename(box.path(), dir);
    }
    owned.reset();
    ::unlink(tmp.c_str());
    log_line("rewrite " + box.path() + ": " + errno_text(err) + "; the mbox is unchanged");
    return status_from_errno(err);
}

namespace {

// After the rename the new contents are the mbox: nothing may unlink them
// (the old file is gone). A failed directory sync only means they may not
// survive a crash, and the caller hears of it as a temporary failure.
Status sync_after_rename(const std::string& path, const std::string& dir) {
    int err = fsync_dir(dir);
    if (err == 0) return Status::ok;
    log_line("rewrite " + path + ": renamed into place, but fsync directory " + dir + ": " +
             errno_text(err) + "; the new contents stand and may not survive a crash");
    return status_from_errno(err);
}

}  // namespace

}  // namespace bm::store::mbox
