// What a protocol session asks of the mail store, and what comes back.
//
// Sessions never touch the disk: they submit a StoreRequest through their
// MailPort and stop consuming input until exactly one StoreReply arrives
// through Session::on_store_reply. The reply is always delivered later,
// never from inside submit(), so a session's state is consistent whenever
// it runs. The store (store/) does the work on its I/O worker; the glue in
// dataplane/ translates between these types and store calls.
//
// Every request gets exactly one reply. The one request a session does not
// wait for is DropSpool: it may go out while another request is pending
// (e.g. from on_peer_closed), and its reply, SpoolDropped, is ignored (the
// driver discards it when the session is gone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace bm::apps {

// ---- requests ---------------------------------------------------------

// Does a local mailbox exist for this local part? (RCPT TO at a local domain)
struct LookupUser {
    std::string local_part;
};

struct Recipient {
    std::string address;  // as the client gave it, without <>
    std::string mailbox;  // canonical local user (from UserFound); empty = relay
};

struct Envelope {
    std::string sender;  // reverse-path without <>; empty for the null sender
    std::vector<Recipient> recipients;
};

// A message body bigger than this reaches the store in pieces as it
// arrives (SpoolChunk), so a session holds about this much of a message
// at most, whatever its size; a smaller one goes whole in its Deliver.
constexpr std::size_t spool_chunk_size = 256 * 1024;

// Appends the next octets of the message being received to a spool: a
// file of the store that the Deliver at the final dot names. spool = 0
// starts a new spool (its id comes back in Spooled). A spool is not
// durable and never delivered on its own; a transaction that ends without
// Deliver drops it (DropSpool).
struct SpoolChunk {
    std::uint64_t spool = 0;
    std::string bytes;  // CRLF lines, un-dot-stuffed, as received so far
};

// The transaction ended without delivery (RSET, 552, 554, client gone,
// shutdown): the spool's octets are thrown away. Not waited for.
struct DropSpool {
    std::uint64_t spool = 0;
};

// Make a message durable: local recipients into their mailboxes, the others
// into the relay queue. The reply comes only once it is on disk (fsync'd).
// What is stored is `head`, then the octets spooled under `spool` (if not
// 0), then `message`: CRLF lines, un-dot-stuffed. The delivery uses the
// spool up, whatever its outcome.
struct Deliver {
    std::string queue_id;  // the id named in Received: and the 250 reply
    Envelope envelope;
    std::string message;   // the last octets of the message (or all of it)
    std::string head{};    // fields the session adds in front (header fill)
    std::uint64_t spool = 0;
};

// POP3 login: check the credentials, lock the maildrop, snapshot it.
// Exactly one of password / apop_digest is set.
struct OpenMaildrop {
    std::string user;
    std::string password;
    std::string apop_digest;     // hex MD5 as the client sent it
    std::string apop_timestamp;  // the "<...>" of our greeting, brackets included
};

// A piece of one message of the snapshot, as RETR (top_lines < 0) or TOP
// sends it: the octets from `offset` of that text (CRLF lines, not
// dot-stuffed; for TOP, of the cut text), at most `max_bytes` of them. A
// big message is read piece by piece as the connection drains, so no
// session holds a whole message. Reading the pieces in order is cheap (the
// store keeps its place); any other offset is allowed but re-reads from
// the start of the message.
struct ReadMessage {
    std::uint32_t maildrop = 0;
    std::uint32_t index = 0;  // 0-based into MaildropOpened::messages
    std::int32_t top_lines = -1;
    std::uint64_t offset = 0;
    std::uint32_t max_bytes = 64 * 1024;  // > 0
};

// End of a POP3 session. commit = true (QUIT in TRANSACTION): remove the
// `deleted` messages, then unlock. commit = false: only unlock. A session
// that ends without commit still gets its MaildropClosed reply, which the
// driver may drop if the connection is gone.
struct CloseMaildrop {
    std::uint32_t maildrop = 0;
    std::vector<std::uint32_t> deleted;  // 0-based indexes
    bool commit = false;
};

// The relay client's DATA: a piece of the text of queue file `queue_name`
// (CRLF lines, not dot-stuffed, exactly as queued), the octets from
// `offset`, at most `max_bytes` of them. Like ReadMessage it is asked for
// piece by piece as the connection drains, so no session holds a queued
// message whole; reading in order is cheap (the store keeps its place).
struct ReadQueued {
    std::string queue_name;
    std::uint64_t offset = 0;
    std::uint32_t max_bytes = 64 * 1024;  // > 0
};

using StoreRequest = std::variant<LookupUser, Deliver, OpenMaildrop, ReadMessage, CloseMaildrop,
                                  SpoolChunk, DropSpool, ReadQueued>;

// ---- replies ----------------------------------------------------------

enum class Outcome {
    ok,
    not_found,          // no such user / no such message
    auth_failed,        // wrong password, unknown user, or no users file
    in_use,             // maildrop locked by another session
    temp_failure,       // 451 / -ERR: try again later, nothing was lost
    no_space,           // 452: disk full or quota
    permanent_failure,  // 554
};

struct UserFound {
    Outcome outcome = Outcome::not_found;
    std::string mailbox;  // canonical user name when ok
};

struct Delivered {
    Outcome outcome = Outcome::temp_failure;
    std::string detail;  // human reason for logs
};

struct MessageInfo {
    std::uint64_t size = 0;  // octets RETR sends (CRLF lines, before dot-stuffing)
    std::string uid;         // UIDL: unique, stable across sessions
};

struct MaildropOpened {
    Outcome outcome = Outcome::auth_failed;
    std::uint32_t maildrop = 0;
    std::vector<MessageInfo> messages;
};

struct MessageText {
    Outcome outcome = Outcome::not_found;
    // The piece: at most max_bytes octets from the offset asked for. When
    // ok and !end it is never empty. The whole text (all pieces) is CRLF
    // lines, not dot-stuffed, and ends with CRLF if non-empty.
    std::string text;
    bool end = false;  // the piece reaches the end of the text
};

struct MaildropClosed {
    Outcome outcome = Outcome::ok;
};

// The answer to SpoolChunk. ok: the octets are in the spool named here.
// Otherwise (no_space when the disk is full) the spool is incomplete: the
// session drops it (if not 0) and refuses the message after its final dot.
struct Spooled {
    Outcome outcome = Outcome::temp_failure;
    std::uint64_t spool = 0;
};

struct SpoolDropped {};

// The answer to ReadQueued. When ok and !end the piece is never empty.
// Unlike MessageText the whole text need not end with CRLF (the client
// adds one before the final dot).
struct QueuedText {
    Outcome outcome = Outcome::not_found;
    std::string text;
    bool end = false;  // the piece reaches the end of the text
};

using StoreReply = std::variant<UserFound, Delivered, MaildropOpened, MessageText, MaildropClosed,
                                Spooled, SpoolDropped, QueuedText>;

class MailPort {
public:
    virtual void submit(StoreRequest request) = 0;

protected:
    ~MailPort() = default;
};

}  // namespace bm::apps
