// A POP3 maildrop (RFC 1939 §8): the user's mailbox locked for one
// session and frozen as a numbered snapshot. Messages delivered during the
// session stay invisible to it; deletions are applied only by commit()
// (QUIT from TRANSACTION).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/commit_group.hpp"
#include "store/file_io.hpp"
#include "store/mail_store.hpp"
#include "store/mailbox.hpp"
#include "store/maildir.hpp"
#include "store/mbox.hpp"
#include "store/mbox_scan.hpp"
#include "store/message_stream.hpp"

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
    // A piece of message `index` as RETR (top_lines < 0) or TOP sends it:
    // at most max_bytes octets from `offset` of its CRLF text; `end` once
    // the piece reaches the end of that text. Continuing where the last
    // piece ended reads on; any other offset starts the message again and
    // skips to it.
    Status read(std::uint32_t index, std::int32_t top_lines, std::uint64_t offset,
                std::uint32_t max_bytes, std::string& piece, bool& end);
    // Raw octets read from message files so far: lets tests check that a
    // piece costs about its own size, not the whole message.
    std::uint64_t raw_bytes_read() const;
    // Removes the `deleted` messages durably; the lock is kept.
    Status commit(const std::vector<std::uint32_t>& deleted);
    void unlock() { lock_fd_.reset(); }

private:
    Status snapshot_maildir();
    Status snapshot_mbox();
    Status start_reading(std::uint32_t index, std::int32_t top_lines);
    void drop_cursor();
    Status open_maildir_file(std::uint32_t index, UniqueFd& fd);
    Status commit_maildir(const std::vector<bool>& doomed);
    Status commit_mbox(const std::vector<bool>& doomed);
    std::vector<mbox::Range> mbox_kept(std::uint64_t current_size,
                                       const std::vector<bool>& doomed) const;

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

    // The message being streamed, so the next piece reads on from where
    // the last one ended.
    struct Cursor {
        std::uint32_t index = 0;
        std::int32_t top_lines = -1;
        // Maildir: the message file, held open so that a mail reader
        // moving or deleting it between two pieces changes nothing.
        UniqueFd file;
        MessageStream stream;
    };
    std::optional<Cursor> cursor_;
    std::uint64_t finished_raw_bytes_ = 0;  // raw_bytes_read() of earlier cursors
};

}  // namespace bm::store
