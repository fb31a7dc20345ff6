// The relay queue: one file per message in the queue dir (SPEC "Queue").
//
// File format (text header, LF line ends, then the message verbatim):
//
//   baremail-queue 1                     magic and format version
//   id: <queue id>                       as named in Received: and the 250 reply
//   created: <unix seconds>
//   sender: <reverse-path without <>>    empty for the null sender
//   attempts: <n>                        delivery rounds tried so far
//   next-try: <unix seconds>             not before this time
//   held: 1                              optional: on hold, never attempted
//   warned: 1                            optional: the delay warning was sent
//   rcpt: <state> <address>              one per recipient, in order;
//   diag: <text>                         optional, after a rcpt line: the last
//                                        reply for it (for the DSN, RFC 3464)
//   <blank line>
//   <content>                            CRLF lines, exactly as accepted
//
// <state> is one of pending (still to deliver), sent (accepted by the next
// hop), failed (permanently refused or out of attempts; to be bounced). The
// address runs to the end of the line, so it may hold a quoted space.
// Unknown header lines are skipped, so a later version can add fields.
//
// A queue file appears only by rename from QUEUE/tmp/ after its data is
// fsync'd, and is changed only by writing a new file the same way and
// renaming it over the old one: a reader sees a whole old or a whole new
// file, never a half-written one, even after kill -9 or power loss.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/commit_group.hpp"
#include "store/file_io.hpp"
#include "store/message_parts.hpp"

namespace bm::store::queue {

enum class RecipientState { pending, sent, failed };

struct Recipient {
    RecipientState state = RecipientState::pending;
    std::string address;
    std::string diagnostic;  // last reply from the next hop, may be empty
};

struct Entry {
    std::string name;  // file name in the queue dir (set by list/read/stage)
    std::string id;
    std::int64_t created = 0;
    std::string sender;
    std::uint32_t attempts = 0;
    std::int64_t next_try = 0;
    std::vector<Recipient> recipients;
    std::string content;  // only from parse()/read(); empty from read_envelope()
    std::uint64_t body_offset = 0;   // where the content starts in the file
    std::uint64_t content_size = 0;  // octets of the content
    bool held = false;    // on hold (baremail-queue hold): never attempted until released
    bool warned = false;  // the delay warning (RFC 3464 Action: delayed) went out
};

// Bytes of a queue file for `entry`.
std::string format(const Entry& entry);
// The same without the content: everything up to and with the blank line.
std::string format_header(const Entry& entry);
// nullopt (and *error set) for anything that is not a whole queue file.
std::optional<Entry> parse(std::string_view file, std::string* error = nullptr);

// Creates QUEUE and QUEUE/tmp if missing. Returns 0 or errno.
int ensure_dirs(const std::string& queue_dir);

// Writes a new queue file for `entry` with `content` (not entry.content)
// under QUEUE/tmp and stages its rename to QUEUE/<name>. Sets entry.name:
// the id when it is a safe, unused file name, else a fresh unique one.
Status stage_new(const std::string& queue_dir, Entry& entry, const MessageParts& content,
                 StagedFile& staged);

// Names of the queue files (QUEUE/tmp and dot files excluded), sorted.
std::vector<std::string> list(const std::string& queue_dir);

// Reads QUEUE/<name> whole, content included (tools and tests; the server
// itself never holds a queued message whole). not_found if gone,
// permanent_failure if malformed.
Status read(const std::string& queue_dir, const std::string& name, Entry& entry);

// Reads only the header of QUEUE/<name>: the envelope, body_offset and
// content_size, never the content. With `fd`, the file stays open there:
// that version's content can be read at body_offset even after a rewrite
// renames a new version (whose header may be longer) over it.
Status read_envelope(const std::string& queue_dir, const std::string& name, Entry& entry,
                     UniqueFd* fd = nullptr);

// Replaces QUEUE/<entry.name> atomically with the new state of `entry`
// (tmp file, fsync, rename over, directory fsync) through `group`; after
// group.flush() *status says whether the new version is durable. The
// content is copied from the current file (entry.content is not used), so
// a state change never needs the message in memory.
void rewrite(const std::string& queue_dir, const Entry& entry, CommitGroup& group,
             Status* status);

// Deletes a finished queue file durably.
Status remove(const std::string& queue_dir, const std::string& name);

std::string_view state_name(RecipientState state);

}  // namespace bm::store::queue
