// Which mailbox a user has: DIR/USER/ as a Maildir or DIR/USER.mbox
// (SPEC "-d"). A Maildir wins when both exist.
#pragma once

#include <string>
#include <string_view>

namespace bm::store {

enum class MailboxKind { none, maildir, mbox };

struct Mailbox {
    MailboxKind kind = MailboxKind::none;
    std::string path;  // the Maildir directory or the mbox file
};

// A name that can be a mailbox under DIR: not empty, at most 64 octets
// (RFC 5321 §4.5.3.1.1 local-part limit), no '/', no leading '.' (which
// keeps ".queue" and our lock files out of reach), no control characters.
bool valid_user_name(std::string_view user);

// `user` must be valid. Kind none when neither mailbox exists.
Mailbox locate_mailbox(const std::string& mail_dir, const std::string& user);

}  // namespace bm::store
