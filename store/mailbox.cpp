#include "store/mailbox.hpp"

#include "store/file_io.hpp"
#include "store/maildir.hpp"

namespace bm::store {

bool valid_user_name(std::string_view user) {
    if (user.empty() || user.size() > 64 || user.front() == '.') return false;
    for (char c : user)
        if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    return true;
}

Mailbox locate_mailbox(const std::string& mail_dir, const std::string& user) {
    std::string dir = mail_dir + "/" + user;
    if (maildir::is_maildir(dir)) return {MailboxKind::maildir, dir};
    std::string mbox = dir + ".mbox";
    if (is_regular_file(mbox)) return {MailboxKind::mbox, mbox};
    return {};
}

}  // namespace bm::store
