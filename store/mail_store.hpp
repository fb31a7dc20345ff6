// The mail store: mailboxes (Maildir or mbox) under one mail dir, the users
// file, POP3 maildrops and the relay queue. Every method here runs on the
// I/O worker thread (store/io_worker.hpp), never on the polling core.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/commit_group.hpp"
#include "store/queue_text.hpp"
#include "store/spool.hpp"
#include "store/users.hpp"

namespace bm::store {

struct MessageParts;

struct StoreConfig {
    std::string mail_dir;    // DIR/USER/ (Maildir) or DIR/USER.mbox
    std::string queue_dir;   // default DIR/.queue
    std::string users_file;  // empty: POP3 login refused for everyone
    std::string hostname = "localhost";  // Maildir unique names
    // Octets all open spools may hold together (--max-spool): past it a
    // spool append is no_space (452 after the final dot), so sessions
    // cannot fill the queue's file system with messages in transit.
    std::uint64_t max_spool_bytes = std::uint64_t(-1);
};

// One accepted message as the SMTP session hands it over. The message is
// `head`, then the octets of spool `spool` (if not 0), then `message`: CRLF
// lines, un-stuffed, headers filled.
struct Delivery {
    std::string id;                       // queue id
    std::string sender;                   // empty = null sender
    std::vector<std::string> local_users; // canonical user names
    std::vector<std::string> remote_recipients;  // go to the relay queue
    std::string message;                  // the last octets (or all of them)
    std::string head{};                   // the fields the session added in front
    std::uint64_t spool = 0;              // used up by the delivery, whatever its outcome
};

struct MaildropEntry {
    std::uint64_t size = 0;  // octets RETR sends (CRLF form, before dot-stuffing)
    std::string uid;         // hex MD5, unique and stable across sessions
};

class MailStore {
public:
    // Throws std::runtime_error with a reason an operator can act on when
    // the mail dir is missing or unreadable, or the users file unreadable.
    // Creates the queue dir if missing; removes the spools of messages a
    // crash cut short (no 250 was given for them).
    explicit MailStore(StoreConfig config);
    ~MailStore();

    // Canonical user name for a local part (SMTP RCPT): exact match of
    // DIR/<lp>/ or DIR/<lp>.mbox, else the lower-cased local part; nullopt
    // if neither. POP3 logins never fold case (open_maildrop).
    std::optional<std::string> find_user(std::string_view local_part) const;

    // Writes the message for every local user and, if any remote
    // recipients, one queue file; registers the durable steps in `group`.
    // After group.flush(), *status is final: ok means every copy is
    // durable; otherwise no copy is visible (all-or-nothing).
    void deliver(const Delivery& delivery, CommitGroup& group, Status* status);

    // SMTP DATA as it arrives: appends to spool `spool` (0: a new one,
    // whose id is set). Plain writes: only deliver() makes octets durable.
    // no_space when the disk is full or max_spool_bytes would be passed.
    Status spool_append(std::uint64_t& spool, std::string_view bytes);
    // The transaction ended without delivery.
    void drop_spool(std::uint64_t spool);
    std::size_t open_spools() const { return spools_.count(); }

    // POP3: check credentials (users file: clear or crypt(3) hash; APOP
    // only with a clear password), lock the maildrop exclusively (in_use
    // if another session holds it, in this or another process), snapshot it.
    // The maildrop is the mailbox named exactly as the user logged in.
    Status open_maildrop(std::string_view user, std::string_view password,
                         std::string_view apop_digest, std::string_view apop_timestamp,
                         std::uint32_t& handle, std::vector<MaildropEntry>& messages);
    // The same for credentials already checked (store/auth_worker, on its
    // own thread): only the lock and the snapshot, no crypt here.
    Status open_checked_maildrop(std::string_view user, std::uint32_t& handle,
                                 std::vector<MaildropEntry>& messages);
    // A piece of the CRLF text of message `index` of the snapshot: at most
    // max_bytes octets from `offset`; `end` once the piece reaches the end
    // of the text. top_lines >= 0 cuts the text to the header, the blank
    // line and that many body lines (POP3 TOP). Reading the pieces in
    // order costs about their size each; any other offset re-reads the
    // message from its start.
    Status read_message(std::uint32_t handle, std::uint32_t index, std::int32_t top_lines,
                        std::uint64_t offset, std::uint32_t max_bytes, std::string& piece,
                        bool& end);
    // commit: delete `deleted` durably, then unlock; otherwise only unlock.
    Status close_maildrop(std::uint32_t handle, const std::vector<std::uint32_t>& deleted,
                          bool commit);

    // Relay client: a piece of the text of queue file `name` (at most
    // max_bytes octets from `offset`; `end` once it reaches the end), so
    // DATA streams a queued message of any size. Reading the pieces in
    // order keeps the file open at its place between them.
    Status read_queued(const std::string& name, std::uint64_t offset, std::uint32_t max_bytes,
                       std::string& piece, bool& end);

    const StoreConfig& config() const { return config_; }
    // SIGHUP: read the users file now, even if it looks unchanged. Throws
    // (keeping the previous users) when it cannot be read. Safe beside the
    // I/O worker: the users are only read under the store's lock.
    void reload_users();

private:
    struct Maildrop;
    struct FileStamp {
        std::int64_t mtime_ns = 0, size = 0, inode = 0;
        bool operator==(const FileStamp&) const = default;
    };
    void write_copies(const Delivery& delivery, const MessageParts& message, CommitGroup& group,
                      Status* status);
    void reload_users_if_changed();
    bool authenticate(std::string_view user, std::string_view password,
                      std::string_view apop_digest, std::string_view apop_timestamp);
    std::uint32_t new_handle();
    Status lock_and_snapshot(std::string_view user, std::uint32_t& handle,
                             std::vector<MaildropEntry>& messages);

    StoreConfig config_;
    Spools spools_;
    Users users_;
    FileStamp users_stamp_;
    // The I/O worker is the only caller in the server; the lock keeps
    // tests and tools that call from several threads correct too.
    std::mutex mutex_;
    std::map<std::uint32_t, std::unique_ptr<Maildrop>> maildrops_;
    std::uint32_t next_handle_ = 1;
    queue::TextReaders queue_texts_;
};

}  // namespace bm::store
