#include "store/maildrop.hpp"

#include <cerrno>
#include <fcntl.h>
#include <map>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/digest.hpp"
#include "store/log.hpp"
#include "store/message_text.hpp"

namespace bm::store {
namespace {

bool same_file(int a, int b) {
    struct stat sa {}, sb {};
    return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
           sa.st_dev == sb.st_dev;
}

int pread_range(int fd, std::uint64_t from, std::uint64_t to, std::string& out) {
    out.resize(to - from);
    std::size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::pread(fd, out.data() + done, out.size() - done,
                            static_cast<off_t>(from + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return EIO;  // the file shrank under us
        done += static_cast<std::size_t>(n);
    }
    return 0;
}

// Unlinks one Maildir message, following it if a mail reader moved it.
int unlink_message(const std::string& dir, const maildir::Message& m) {
    if (::unlink(m.path.c_str()) == 0) return 0;
    if (errno != ENOENT) return errno;
    auto moved = maildir::find_by_base(dir, m.base);
    if (!moved) return 0;  // already gone: the goal is reached
    return ::unlink(moved->c_str()) == 0 || errno == ENOENT ? 0 : errno;
}

}  // namespace

Status Pop3Maildrop::lock(const std::string& lock_path) {
    UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd.valid()) {
        log_line("POP3 lock " + lock_path + ": " + errno_text(errno));
        return Status::temp_failure;
    }
    // The lock file is never unlinked: removing it would let a second
    // session lock a new inode while the first still holds the old one.
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? Status::in_use : Status::temp_failure;
    lock_fd_ = std::move(fd);
    return Status::ok;
}

Status Pop3Maildrop::snapshot(const Mailbox& box) {
    box_ = box;
    entries_.clear();
    switch (box_.kind) {
        case MailboxKind::maildir: return snapshot_maildir();
        case MailboxKind::mbox: return snapshot_mbox();
        case MailboxKind::none: return Status::ok;
    }
    return Status::ok;
}

Status Pop3Maildrop::snapshot_maildir() {
    if (Status s = maildir::list_messages(box_.path, files_); s != Status::ok) return s;
    for (const auto& f : files_) {
        MaildropEntry e;
        auto named = maildir::size_from_name(f.path.substr(f.path.find_last_of('/') + 1));
        if (named) {
            e.size = *named;
        } else {
            std::string text;
            if (int err = read_file(f.path, text); err != 0) {
                log_line("read " + f.path + ": " + errno_text(err));
                return status_from_errno(err);
            }
            e.size = to_crlf(text).size();
        }
        // The unique part survives the move to cur/ and flag changes.
        e.uid = hex_md5({f.base});
        entries_.push_back(std::move(e));
    }
    return Status::ok;
}

Status Pop3Maildrop::snapshot_mbox() {
    // Under the delivery locks, so no half-appended message is seen.
    mbox::LockedMbox locked;
    if (Status s = locked.lock(box_.path); s != Status::ok) return s;
    std::string content;
    if (int err = read_all(locked.fd(), content); err != 0) return status_from_errno(err);
    mbox_fd_.reset(::open(box_.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!mbox_fd_.valid() || !same_file(mbox_fd_.get(), locked.fd())) return Status::temp_failure;
    mbox_size_ = content.size();
    mbox_digest_ = hex_md5({content});
    messages_ = mbox::parse(content);
    std::map<std::string, int> seen;
    for (const auto& m : messages_) {
        std::string_view from(content.data() + m.start, m.text_start - m.start);
        std::string_view stored(content.data() + m.text_start, m.text_end - m.text_start);
        MaildropEntry e;
        e.size = mbox::message_text(stored).size();
        e.uid = hex_md5({from, stored});
        // Identical copies (same From_ line, same text) still need distinct
        // UIDLs (RFC 1939 §7); the n-th copy is stable while earlier stay.
        if (int n = ++seen[e.uid]; n > 1) e.uid.append("-").append(std::to_string(n));
        entries_.push_back(std::move(e));
    }
    return Status::ok;
}

Status Pop3Maildrop::read(std::uint32_t index, std::int32_t top_lines, std::string& text) {
    if (index >= entries_.size()) return Status::not_found;
    Status s = box_.kind == MailboxKind::mbox ? read_mbox(index, text) : read_maildir(index, text);
    if (s == Status::ok && top_lines >= 0) text = top_of_message(text, top_lines);
    return s;
}

Status Pop3Maildrop::read_maildir(std::uint32_t index, std::string& text) {
    auto& f = files_[index];
    std::string raw;
    int err = read_file(f.path, raw);
    if (err == ENOENT) {
        if (auto moved = maildir::find_by_base(box_.path, f.base)) {
            f.path = *moved;
            err = read_file(f.path, raw);
        }
    }
    if (err == ENOENT) return Status::not_found;
    if (err != 0) {
        log_line("read " + f.path + ": " + errno_text(err));
        return status_from_errno(err);
    }
    text = to_crlf(raw);
    return Status::ok;
}

Status Pop3Maildrop::read_mbox(std::uint32_t index, std::string& text) {
    const auto& m = messages_[index];
    std::string stored;
    if (int err = pread_range(mbox_fd_.get(), m.text_start, m.text_end, stored); err != 0) {
        log_line("read " + box_.path + ": " + errno_text(err));
        return status_from_errno(err);
    }
    text = mbox::message_text(stored);
    return Status::ok;
}

Status Pop3Maildrop::commit(const std::vector<std::uint32_t>& deleted) {
    std::vector<bool> doomed(entries_.size(), false);
    bool any = false;
    for (auto index : deleted) {
        if (index >= doomed.size()) {
            log_line("POP3 commit: no message " + std::to_string(index) + ", ignored");
            continue;
        }
        doomed[index] = any = true;
    }
    if (!any) return Status::ok;
    return box_.kind == MailboxKind::mbox ? commit_mbox(doomed) : commit_maildir(doomed);
}

Status Pop3Maildrop::commit_maildir(const std::vector<bool>& doomed) {
    int first_error = 0;
    for (std::size_t i = 0; i < files_.size(); ++i) {
        if (!doomed[i]) continue;
        if (int err = unlink_message(box_.path, files_[i]); err != 0) {
            log_line("delete " + files_[i].path + ": " + errno_text(err));
            if (first_error == 0) first_error = err;
        }
    }
    for (const char* sub : {"/new", "/cur"}) {
        int err = fsync_dir(box_.path + sub);
        if (err != 0 && first_error == 0) first_error = err;
    }
    return first_error == 0 ? Status::ok : status_from_errno(first_error);
}

Status Pop3Maildrop::commit_mbox(const std::vector<bool>& doomed) {
    mbox::LockedMbox locked;
    if (Status s = locked.lock(box_.path); s != Status::ok) return s;
    std::string current;
    if (int err = read_all(locked.fd(), current); err != 0) return status_from_errno(err);
    // Deliveries may have appended since the snapshot; anything else
    // (a mail reader rewrote the file) makes our offsets meaningless.
    bool unchanged = same_file(locked.fd(), mbox_fd_.get()) && current.size() >= mbox_size_ &&
                     hex_md5({std::string_view(current).substr(0, mbox_size_)}) == mbox_digest_;
    if (!unchanged) {
        log_line(box_.path + " was changed by another program during the POP3 session; "
                 "deletions not applied");
        return Status::temp_failure;
    }
    return mbox::replace_contents(locked, mbox_without(current, doomed));
}

std::string Pop3Maildrop::mbox_without(std::string_view current,
                                       const std::vector<bool>& doomed) const {
    std::string out;
    out.reserve(current.size());
    std::uint64_t first = messages_.empty() ? mbox_size_ : messages_.front().start;
    out.append(current.substr(0, first));
    for (std::size_t i = 0; i < messages_.size(); ++i)
        if (!doomed[i])
            out.append(current.substr(messages_[i].start, messages_[i].end - messages_[i].start));
    out.append(current.substr(mbox_size_));
    return out;
}

}  // namespace bm::store
