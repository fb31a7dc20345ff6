#include "store/mail_store.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <ctime>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include "store/file_io.hpp"
#include "store/log.hpp"
#include "store/mailbox.hpp"
#include "store/maildir.hpp"
#include "store/maildrop.hpp"
#include "store/mbox.hpp"
#include "store/message_parts.hpp"
#include "store/queue.hpp"

namespace bm::store {

struct MailStore::Maildrop {
    Pop3Maildrop pop;
};

namespace {

// ---- start-up checks ----------------------------------------------------

void check_mail_dir(const std::string& dir) {
    if (dir.empty()) throw std::runtime_error("mail dir: none given (-d DIR)");
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0)
        throw std::runtime_error("mail dir " + dir + ": " + errno_text(errno));
    if (!S_ISDIR(st.st_mode)) throw std::runtime_error("mail dir " + dir + ": not a directory");
    if (::access(dir.c_str(), R_OK | X_OK) != 0)
        throw std::runtime_error("mail dir " + dir + ": not readable: " + errno_text(errno));
    if (::access(dir.c_str(), W_OK) != 0)
        throw std::runtime_error("mail dir " + dir + ": not writable (lock files go there): " +
                                 errno_text(errno));
}

std::string lower_ascii(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool user_exists(const std::string& mail_dir, const std::string& user) {
    return locate_mailbox(mail_dir, user).kind != MailboxKind::none;
}

StoreConfig with_defaults(StoreConfig config) {
    if (config.queue_dir.empty()) config.queue_dir = config.mail_dir + "/.queue";
    return config;
}

// ---- delivery -------------------------------------------------------------

std::vector<std::string> distinct(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

// A directory DIR/USER counts as a Maildir here even if damaged, so the
// failure is reported by the write that cannot be done, with its reason.
Status resolve_mailboxes(const std::string& mail_dir, const std::vector<std::string>& users,
                         std::vector<Mailbox>& boxes) {
    for (const auto& user : users) {
        Mailbox box = valid_user_name(user) ? locate_mailbox(mail_dir, user) : Mailbox{};
        if (box.kind == MailboxKind::none && valid_user_name(user) &&
            is_directory(mail_dir + "/" + user))
            box = {MailboxKind::maildir, mail_dir + "/" + user};
        if (box.kind == MailboxKind::none) {
            log_line("deliver: no mailbox for user \"" + user + "\" in " + mail_dir);
            return Status::temp_failure;
        }
        boxes.push_back(std::move(box));
    }
    return Status::ok;
}

Status stage_maildir_copies(const std::vector<Mailbox>& boxes, const std::string& hostname,
                            const MessageParts& message, std::vector<StagedFile>& staged) {
    for (const auto& box : boxes) {
        if (box.kind != MailboxKind::maildir) continue;
        StagedFile file;
        if (Status s = maildir::stage_delivery(box.path, hostname, message, file); s != Status::ok)
            return s;
        staged.push_back(std::move(file));
    }
    return Status::ok;
}

Status stage_queue_file(const std::string& queue_dir, const Delivery& d,
                        const MessageParts& message, std::time_t now,
                        std::vector<StagedFile>& staged) {
    if (d.remote_recipients.empty()) return Status::ok;
    queue::Entry entry;
    entry.id = d.id;
    entry.created = now;
    entry.sender = d.sender;
    entry.next_try = now;
    for (const auto& rcpt : d.remote_recipients)
        entry.recipients.push_back({queue::RecipientState::pending, rcpt, {}});
    StagedFile file;
    if (Status s = queue::stage_new(queue_dir, entry, message, file); s != Status::ok) return s;
    staged.push_back(std::move(file));
    return Status::ok;
}

// Used only when mbox copies follow: an mbox append is final once its
// locks are released, so the other copies must be durable data first.
Status sync_staged(const std::vector<StagedFile>& staged) {
    for (const auto& file : staged) {
        if (::fdatasync(file.fd) != 0) {
            int err = errno;
            log_line("fsync " + file.tmp_path + ": " + errno_text(err));
            return status_from_errno(err);
        }
    }
    return Status::ok;
}

struct MboxCopy {
    std::unique_ptr<mbox::LockedMbox> box = std::make_unique<mbox::LockedMbox>();
    off_t old_size = 0;
};

// Every mbox stays locked until all are written, so a failure in one can
// still cut the others back before anyone reads them.
Status append_mbox_copies(const std::vector<Mailbox>& boxes, const Delivery& d,
                          const MessageParts& message, std::time_t now,
                          std::vector<MboxCopy>& copies) {
    std::string from = mbox::from_line(d.sender, now);
    for (const auto& box : boxes) {
        if (box.kind != MailboxKind::mbox) continue;
        MboxCopy copy;
        if (Status s = copy.box->lock(box.path); s != Status::ok) return s;
        if (Status s = mbox::append_durably(*copy.box, from, message, copy.old_size);
            s != Status::ok)
            return s;
        copies.push_back(std::move(copy));
    }
    return Status::ok;
}

bool has_mbox(const std::vector<Mailbox>& boxes) {
    return std::any_of(boxes.begin(), boxes.end(),
                       [](const Mailbox& b) { return b.kind == MailboxKind::mbox; });
}

}  // namespace

// ---- MailStore ------------------------------------------------------------

// The spools live in the queue's tmp dir: staging space on the queue's file
// system, which the operator sized for mail in transit.
MailStore::MailStore(StoreConfig config)
    : config_(with_defaults(std::move(config))), spools_(config_.queue_dir + "/tmp") {
    check_mail_dir(config_.mail_dir);
    if (int err = queue::ensure_dirs(config_.queue_dir); err != 0)
        throw std::runtime_error("queue dir " + config_.queue_dir + ": cannot create: " +
                                 errno_text(err));
    if (!config_.users_file.empty()) reload_users_if_changed();
}

MailStore::~MailStore() = default;

std::optional<std::string> MailStore::find_user(std::string_view local_part) const {
    std::string exact(local_part);
    if (!valid_user_name(exact)) return std::nullopt;
    if (user_exists(config_.mail_dir, exact)) return exact;
    // Mailbox names are conventionally lower case; RFC 5321 §2.4 lets the
    // receiving host decide whether local parts are case-sensitive.
    std::string lower = lower_ascii(exact);
    if (lower != exact && user_exists(config_.mail_dir, lower)) return lower;
    return std::nullopt;
}

// All-or-nothing: every copy is first written under a temporary name; only
// when all are written (and, with mbox copies, synced) are the renames
// registered. Any failure removes every temporary file and cuts every mbox
// back. The one gap: once mbox copies are committed, a later failure of a
// Maildir rename or directory fsync in the commit round cannot retract them.
// A spooled message is copied from its spool file, which goes at the end:
// the copies hold the octets from then on.
void MailStore::deliver(const Delivery& d, CommitGroup& group, Status* status) {
    std::unique_ptr<SpoolFile> spool = d.spool ? spools_.take(d.spool) : nullptr;
    if (d.spool != 0 && !spool) {
        log_line("delivery " + d.id + ": spool " + std::to_string(d.spool) + " unknown");
        *status = Status::temp_failure;
        return;
    }
    MessageParts message{d.head, spool ? spool->fd() : -1, spool ? spool->size() : 0, d.message};
    write_copies(d, message, group, status);
}

void MailStore::write_copies(const Delivery& d, const MessageParts& message, CommitGroup& group,
                             Status* status) {
    std::time_t now = std::time(nullptr);
    std::vector<Mailbox> boxes;
    std::vector<StagedFile> staged;
    std::vector<MboxCopy> mbox_copies;
    Status s = resolve_mailboxes(config_.mail_dir, distinct(d.local_users), boxes);
    if (s == Status::ok) s = stage_maildir_copies(boxes, config_.hostname, message, staged);
    if (s == Status::ok) s = stage_queue_file(config_.queue_dir, d, message, now, staged);
    if (s == Status::ok && has_mbox(boxes)) {
        s = sync_staged(staged);
        if (s == Status::ok) s = append_mbox_copies(boxes, d, message, now, mbox_copies);
    }
    *status = s;
    if (s != Status::ok) {
        for (auto& copy : mbox_copies) mbox::truncate_back(*copy.box, copy.old_size);
        for (auto& file : staged) discard_staged(file);
        log_line("delivery " + d.id + " failed; no copy kept");
        return;
    }
    for (auto& file : staged) {
        group.add_file(file.fd, file.tmp_path, file.final_path, status);
        group.add_dir_sync(file.dir, status);
    }
}

Status MailStore::spool_append(std::uint64_t& spool, std::string_view bytes) {
    std::uint64_t held = spools_.bytes();
    if (held + bytes.size() > config_.max_spool_bytes) {
        log_line("spool budget spent (" + std::to_string(held) + " of " +
                 std::to_string(config_.max_spool_bytes) + " octets held by messages in transit): message refused");
        return Status::no_space;
    }
    return spools_.append(spool, bytes);
}

void MailStore::drop_spool(std::uint64_t spool) { spools_.drop(spool); }

bool MailStore::authenticate(std::string_view user, std::string_view password,
                             std::string_view apop_digest, std::string_view apop_timestamp) {
    if (config_.users_file.empty()) return false;
    reload_users_if_changed();
    if (!apop_digest.empty()) return users_.check_apop(user, apop_timestamp, apop_digest);
    return users_.check_password(user, password);
}

Status MailStore::open_maildrop(std::string_view user, std::string_view password,
                                std::string_view apop_digest, std::string_view apop_timestamp,
                                std::uint32_t& handle, std::vector<MaildropEntry>& messages) {
    std::lock_guard guard(mutex_);
    if (!authenticate(user, password, apop_digest, apop_timestamp)) return Status::auth_failed;
    return lock_and_snapshot(user, handle, messages);
}

Status MailStore::open_checked_maildrop(std::string_view user, std::uint32_t& handle,
                                        std::vector<MaildropEntry>& messages) {
    std::lock_guard guard(mutex_);
    return lock_and_snapshot(user, handle, messages);
}

Status MailStore::lock_and_snapshot(std::string_view user, std::uint32_t& handle,
                                    std::vector<MaildropEntry>& messages) {
    // The login name is the mailbox name, case included: the users file
    // holds "Alice" and "alice" as two users, so folding case here would
    // open one's maildrop with the other's password.
    std::string mailbox(user);
    if (!valid_user_name(mailbox)) return Status::auth_failed;
    auto drop = std::make_unique<Maildrop>();
    if (Status s = drop->pop.lock(config_.mail_dir + "/." + mailbox + ".pop3.lock");
        s != Status::ok)
        return s;
    if (Status s = drop->pop.snapshot(locate_mailbox(config_.mail_dir, mailbox)); s != Status::ok)
        return s;  // the lock goes with `drop`
    messages = drop->pop.entries();
    handle = new_handle();
    maildrops_[handle] = std::move(drop);
    return Status::ok;
}

Status MailStore::read_message(std::uint32_t handle, std::uint32_t index, std::int32_t top_lines,
                               std::uint64_t offset, std::uint32_t max_bytes, std::string& piece,
                               bool& end) {
    std::lock_guard guard(mutex_);
    piece.clear();
    end = false;
    auto it = maildrops_.find(handle);
    if (it == maildrops_.end()) return Status::not_found;
    return it->second->pop.read(index, top_lines, offset, max_bytes, piece, end);
}

Status MailStore::read_queued(const std::string& name, std::uint64_t offset,
                              std::uint32_t max_bytes, std::string& piece, bool& end) {
    std::lock_guard guard(mutex_);
    return queue_texts_.read(config_.queue_dir, name, offset, max_bytes, piece, end);
}

Status MailStore::close_maildrop(std::uint32_t handle, const std::vector<std::uint32_t>& deleted,
                                 bool commit) {
    std::lock_guard guard(mutex_);
    auto it = maildrops_.find(handle);
    if (it == maildrops_.end()) return Status::not_found;
    Status s = commit ? it->second->pop.commit(deleted) : Status::ok;
    maildrops_.erase(it);  // releases the lock
    return s;
}

std::uint32_t MailStore::new_handle() {
    while (next_handle_ == 0 || maildrops_.count(next_handle_) != 0) ++next_handle_;
    return next_handle_++;
}

void MailStore::reload_users() {
    if (config_.users_file.empty()) return;
    Users fresh(config_.users_file);  // outside the lock: logins go on meanwhile
    std::lock_guard guard(mutex_);
    users_ = std::move(fresh);
    users_stamp_.mtime_ns = -1;  // no file's: the next login takes the file's own stamp
}

// The users file is read again when it changes, so adding a user or
// changing a password needs no restart. A file that became unreadable
// keeps the last good contents (and says so).
void MailStore::reload_users_if_changed() {
    struct stat st {};
    if (::stat(config_.users_file.c_str(), &st) != 0) {
        if (users_stamp_ == FileStamp{})
            throw std::runtime_error("users file " + config_.users_file + ": " +
                                     errno_text(errno));
        return;
    }
    FileStamp stamp{static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                    static_cast<std::int64_t>(st.st_size), static_cast<std::int64_t>(st.st_ino)};
    if (stamp == users_stamp_) return;
    try {
        users_ = Users(config_.users_file);
        users_stamp_ = stamp;
    } catch (const std::runtime_error& e) {
        if (users_stamp_ == FileStamp{}) throw;
        log_line(std::string(e.what()) + "; keeping the previous users");
    }
}

}  // namespace bm::store
