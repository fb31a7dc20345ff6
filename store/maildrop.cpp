#include "store/maildrop.hpp"

#include <cerrno>
#include <fcntl.h>
#include <map>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/digest.hpp"
#include "store/log.hpp"

namespace bm::store {
namespace {

bool same_file(int a, int b) {
    struct stat sa {}, sb {};
    return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
           sa.st_dev == sb.st_dev;
}

// Octets of the CRLF text of a Maildir file, counted piece by piece.
int crlf_size(int fd, std::uint64_t raw_size, std::uint64_t& size) {
    MessageStream stream(fd, 0, raw_size, false, -1);
    std::string piece;
    bool end = false;
    while (!end)
        if (int err = stream.read(64 * 1024, piece, end); err != 0) return err;
    size = stream.offset();
    return 0;
}

int file_size(int fd, std::uint64_t& size) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return errno;
    size = static_cast<std::uint64_t>(st.st_size);
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
            UniqueFd fd(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC));
            std::uint64_t raw_size = 0;
            int err = fd.valid() ? file_size(fd.get(), raw_size) : errno;
            if (err == 0) err = crlf_size(fd.get(), raw_size, e.size);
            if (err != 0) {
                log_line("read " + f.path + ": " + errno_text(err));
                return status_from_errno(err);
            }
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
    // Read in pieces: a big mbox must not cost its size in memory.
    mbox::Scan scan;
    if (int err = mbox::scan(locked.fd(), scan); err != 0) {
        log_line("read " + box_.path + ": " + errno_text(err));
        return status_from_errno(err);
    }
    mbox_fd_.reset(::open(box_.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!mbox_fd_.valid() || !same_file(mbox_fd_.get(), locked.fd())) return Status::temp_failure;
    mbox_size_ = scan.size;
    mbox_digest_ = std::move(scan.digest);
    messages_.clear();
    std::map<std::string, int> seen;
    for (auto& m : scan.messages) {
        messages_.push_back(m.where);
        MaildropEntry e;
        e.size = m.size;
        e.uid = std::move(m.md5);  // of the From_ line and the stored text
        // Identical copies (same From_ line, same text) still need distinct
        // UIDLs (RFC 1939 §7); the n-th copy is stable while earlier stay.
        if (int n = ++seen[e.uid]; n > 1) e.uid.append("-").append(std::to_string(n));
        entries_.push_back(std::move(e));
    }
    return Status::ok;
}

Status Pop3Maildrop::read(std::uint32_t index, std::int32_t top_lines, std::uint64_t offset,
                          std::uint32_t max_bytes, std::string& piece, bool& end) {
    piece.clear();
    end = false;
    if (index >= entries_.size()) return Status::not_found;
    bool continues = cursor_ && cursor_->index == index && cursor_->top_lines == top_lines &&
                     cursor_->stream.offset() == offset;
    if (!continues) {
        if (Status s = start_reading(index, top_lines); s != Status::ok) return s;
    }
    // Starting again for an offset of our own is correct, only slower.
    int err = continues ? 0 : cursor_->stream.skip(offset);
    if (err == 0) err = cursor_->stream.read(max_bytes, piece, end);
    if (err != 0) {
        log_line("read message " + std::to_string(index + 1) + " of " + box_.path + ": " +
                 errno_text(err));
        piece.clear();
        end = false;
        drop_cursor();  // its state is unknown now: the next request starts over
        return status_from_errno(err);
    }
    return Status::ok;
}

std::uint64_t Pop3Maildrop::raw_bytes_read() const {
    return finished_raw_bytes_ + (cursor_ ? cursor_->stream.raw_bytes_read() : 0);
}

void Pop3Maildrop::drop_cursor() {
    if (cursor_) finished_raw_bytes_ += cursor_->stream.raw_bytes_read();
    cursor_.reset();
}

Status Pop3Maildrop::start_reading(std::uint32_t index, std::int32_t top_lines) {
    drop_cursor();
    if (box_.kind == MailboxKind::mbox) {
        const auto& m = messages_[index];
        cursor_.emplace(Cursor{index, top_lines, UniqueFd(),
                               MessageStream(mbox_fd_.get(), m.text_start, m.text_end, true,
                                             top_lines)});
        return Status::ok;
    }
    UniqueFd fd;
    if (Status s = open_maildir_file(index, fd); s != Status::ok) return s;
    std::uint64_t raw_size = 0;
    if (int err = file_size(fd.get(), raw_size); err != 0) return status_from_errno(err);
    int raw_fd = fd.get();
    cursor_.emplace(Cursor{index, top_lines, std::move(fd),
                           MessageStream(raw_fd, 0, raw_size, false, top_lines)});
    return Status::ok;
}

// Opens the message, following it if a mail reader moved it (new/ to cur/,
// flags changed) since the snapshot.
Status Pop3Maildrop::open_maildir_file(std::uint32_t index, UniqueFd& fd) {
    auto& f = files_[index];
    fd.reset(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC));
    int err = fd.valid() ? 0 : errno;
    if (err == ENOENT) {
        if (auto moved = maildir::find_by_base(box_.path, f.base)) {
            f.path = *moved;
            fd.reset(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC));
            err = fd.valid() ? 0 : errno;
        }
    }
    if (err == ENOENT) return Status::not_found;
    if (err != 0) {
        log_line("read " + f.path + ": " + errno_text(err));
        return status_from_errno(err);
    }
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
    std::uint64_t current_size = 0;
    std::string digest;
    int err = file_size(locked.fd(), current_size);
    if (err == 0 && current_size >= mbox_size_)
        err = mbox::md5_prefix(locked.fd(), mbox_size_, digest);
    if (err != 0) {
        log_line("read " + box_.path + ": " + errno_text(err));
        return status_from_errno(err);
    }
    // Deliveries may have appended since the snapshot; anything else
    // (a mail reader rewrote the file) makes our offsets meaningless.
    bool unchanged = same_file(locked.fd(), mbox_fd_.get()) && current_size >= mbox_size_ &&
                     digest == mbox_digest_;
    if (!unchanged) {
        log_line(box_.path + " was changed by another program during the POP3 session; "
                 "deletions not applied");
        return Status::temp_failure;
    }
    auto kept = mbox_kept(current_size, doomed);
    return mbox::replace_contents(
        locked, [&](int fd) { return mbox::copy_ranges(locked.fd(), fd, kept); });
}

// The octets the rewritten mbox keeps: what precedes the first message,
// the messages not deleted, and what was appended after the snapshot.
std::vector<mbox::Range> Pop3Maildrop::mbox_kept(std::uint64_t current_size,
                                                 const std::vector<bool>& doomed) const {
    std::vector<mbox::Range> kept;
    auto add = [&](std::uint64_t begin, std::uint64_t end) {
        if (begin == end) return;
        if (!kept.empty() && kept.back().end == begin)
            kept.back().end = end;  // adjacent: one longer copy
        else
            kept.push_back({begin, end});
    };
    add(0, messages_.empty() ? mbox_size_ : messages_.front().start);
    for (std::size_t i = 0; i < messages_.size(); ++i)
        if (!doomed[i]) add(messages_[i].start, messages_[i].end);
    add(mbox_size_, current_size);
    return kept;
}

}  // namespace bm::store
