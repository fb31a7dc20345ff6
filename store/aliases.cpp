#include "store/aliases.hpp"

#include <stdexcept>

#include "store/file_io.hpp"
#include "store/mailbox.hpp"

namespace bm::store {

apps::AliasTable load_aliases(const std::string& path) {
    if (path.empty()) return {};
    std::string text;
    if (int err = read_file(path, text); err != 0)
        throw std::runtime_error("aliases file " + path + ": cannot read: " + errno_text(err));
    auto parsed = apps::AliasTable::parse(text);
    if (const auto* error = std::get_if<apps::AliasSyntaxError>(&parsed))
        throw std::runtime_error("aliases file " + path + ":" + std::to_string(error->line) + ": " +
                                 error->reason);
    return std::move(std::get<apps::AliasTable>(parsed));
}

std::string missing_postmaster(const apps::AliasTable& aliases, const std::string& mail_dir) {
    if (aliases.contains("postmaster") || !is_directory(mail_dir)) return {};
    if (locate_mailbox(mail_dir, "postmaster").kind != MailboxKind::none) return {};
    return "no postmaster (RFC 5321 section 4.5.1 requires one): add a line \"postmaster: USER\" to "
        "the --aliases file, or create the mailbox " + mail_dir + "/postmaster";
}

std::string reload_aliases(apps::AliasBook& book, const std::string& path) {
    try {
        book.replace(load_aliases(path));
    } catch (const std::runtime_error& e) {
        return std::string(e.what()) + " (the previous aliases stay in use)";
    }
    return {};
}

}  // namespace bm::store
