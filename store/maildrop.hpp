// A POP3 maildrop (RFC 1939 §8): the user's mailbox locked for one
// session and frozen as a numbered snapshot. Messages delivered during the
// session stay invisible to it; deletions are applied only by commit()
// (QUIT from TRANSACTION).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/commit_group.hpp"
#include "store/file_io.hpp"
#include "store/mail_store.hpp"
#include "store/mailbox.hpp"
#include "store/maildir.hpp"
#include "store/mbox.hpp"

namespace bm::store {

class Pop3Maildrop {
public:
    // flock on `lock_path` (DIR/.USER.pop3.lock): exclusive across
    // processes and, being tied to the open file, between two sessions of
    // this process too. in_use at once if held.
    Status lock(const std::string& lock_path);
    // Lists the mailbox (an absent one is an empty maildrop).
    Status snapshot(const Mailbox& box);
    const std::vector<MaildropEntry>& entries() const { return entries_; }
    Status read(std::uint32_t index, std::int32_t top_lines, std::string& text);
    // Removes the `deleted` messages durably; the lock is kept.
    Status commit(const std::vector<std::uint32_t>& deleted);
    void unlock() { lock_fd_.reset(); }

private:
    Status snapshot_maildir();
    Status snapshot_mbox();
    Status read_maildir(std::uint32_t index, std::string& text);
    Status read_mbox(std::uint32_t index, std::string& text);
    Status commit_maildir(const std::vector<bool>& doomed);
    Status commit_mbox(const std::vector<bool>& doomed);
    std::string mbox_without(std::string_view current, const std::vector<bool>& doomed) const;

    Mailbox box_;
    UniqueFd lock_fd_;
    std::vector<MaildropEntry> entries_;
    std::vector<maildir::Message> files_;  // Maildir: one per entry
    // mbox: the file as snapshotted, read through our own descriptor so a
    // rewrite by a mail reader cannot shift the offsets under us.
    UniqueFd mbox_fd_;
    std::vector<mbox::Message> messages_;
    std::uint64_t mbox_size_ = 0;
    std::string mbox_digest_;  // MD5 of the first mbox_size_ octets
};

}  // namespace bm::store
