// Maildir (https://cr.yp.to/proto/maildir.html): a message is written to
// tmp/ under a unique name, made durable, then renamed into new/; readers
// see only complete files. A POP3 client may leave them in new/ or a mail
// reader may move them to cur/ as "<unique>:2,<flags>".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/commit_group.hpp"
#include "store/file_io.hpp"
#include "store/message_parts.hpp"

namespace bm::store::maildir {

// new/, cur/ and tmp/ are all directories.
bool is_maildir(const std::string& dir);

// "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>": unique per host by time, pid
// and a per-process counter; sorting by the leading seconds then by name
// gives delivery order (usec is zero-padded for that reason).
std::string unique_name(std::string_view hostname, std::uint64_t size);

// The host part of a unique name: '/' and ':' would break the path and the
// ":2,flags" suffix, so they become "\057" and "\072" as the spec asks.
std::string safe_hostname(std::string_view hostname);

// Writes `message` as tmp/<unique> and stages its rename into new/.
Status stage_delivery(const std::string& dir, std::string_view hostname,
                      const MessageParts& message, StagedFile& staged);

// The unique part of a file name (before ":2,flags").
std::string_view base_name(std::string_view file_name);
// Size from the ",W=" (RFC 822 size, Maildir++) or ",S=" field of a name.
std::optional<std::uint64_t> size_from_name(std::string_view file_name);

struct Message {
    std::string path;
    std::string base;  // unique part of the name
};

// The messages of new/ and cur/, oldest first.
Status list_messages(const std::string& dir, std::vector<Message>& out);

// A mail reader may have moved the file between new/ and cur/ since the
// snapshot; find it again by its unique part.
std::optional<std::string> find_by_base(const std::string& dir, std::string_view base);

}  // namespace bm::store::maildir
