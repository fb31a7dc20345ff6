// The aliases file (SPEC --aliases FILE) read from disk, and the start-up
// rule for postmaster. The table itself, its syntax and its expansion are
// in apps/aliases.hpp (no I/O there).
#pragma once

#include <string>

#include "apps/aliases.hpp"

namespace bm::store {

// The table of `path`; an empty path is an empty table. Throws
// std::runtime_error "aliases file PATH:LINE: reason" for a bad line or
// "aliases file PATH: cannot read: ..." (exit 2 at start, as the users file).
apps::AliasTable load_aliases(const std::string& path);

// RFC 5321 §4.5.1: mail to postmaster must be accepted. The answer is
// empty when the aliases name postmaster or a mailbox of that name exists
// under `mail_dir` (or the mail dir cannot be read: the store's own check
// speaks then), else the reason and how to add one.
std::string missing_postmaster(const apps::AliasTable& aliases, const std::string& mail_dir);

// SIGHUP: the file read again. On success the book holds the new table and
// the answer is empty; on failure the book keeps the old table and the
// answer is the reason (for the log): a typo never empties the aliases of
// a running server.
std::string reload_aliases(apps::AliasBook& book, const std::string& path);

}  // namespace bm::store
