// The aliases table (SPEC --aliases FILE), as /etc/aliases reads for
// Postfix's local(8) and Sendmail: parsed from text and expanded at RCPT
// time, no I/O here (store/aliases.hpp reads the file).
//
// Read first: aliases(5) of Postfix (the file's syntax), RFC 5321 §4.5.1
// (postmaster), RFC 5321 §3.9.1 (an alias rewrites the envelope recipient
// and keeps the message), RFC 3463 X.4.6 (routing loop).
//
// Syntax:   name: target, target, ...
//   - name is a local part, compared ignoring case;
//   - a target is a local name ("bob"), or an address ("bob@example.org");
//     an address at a local domain is the local name of its local part;
//   - '#' as the first non-blank octet starts a comment line; blank lines
//     are skipped; a line starting with a blank continues the entry above.
//   Pipes, files and :include: are not supported: refused when parsed.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bm::apps {

// Sendmail's MAXALIASDEPTH: a chain of aliases deeper than this is taken
// for a mistake in the table rather than followed.
inline constexpr std::size_t max_alias_depth = 10;

// Where the text is wrong, for "FILE:LINE: reason".
struct AliasSyntaxError {
    std::size_t line = 0;
    std::string reason;
};

// What one local name comes to. `expanded` is false when the name is no
// alias (its own mailbox is looked up). Leaves are distinct: local names
// ignoring case, remote addresses ignoring the domain's case.
struct AliasExpansion {
    bool expanded = false;
    std::vector<std::string> local_names;  // mailboxes to look up
    std::vector<std::string> remote;       // addresses for the relay queue
    bool too_deep = false;                 // chain past max_alias_depth
};

// Is this domain (lower case) delivered here?
using IsLocalDomain = std::function<bool(std::string_view domain)>;

class AliasTable {
public:
    static std::variant<AliasTable, AliasSyntaxError> parse(std::string_view text);

    bool contains(std::string_view name) const;
    std::size_t size() const { return entries_.size(); }

    // A name on the way to itself (a: a, b; or a: b, b: a) stops there and
    // is a mailbox, as in Postfix's local(8) and Sendmail: "root: root,
    // admin" keeps a copy in root's mailbox.
    AliasExpansion expand(std::string_view name, const IsLocalDomain& is_local_domain) const;

private:
    struct Walk;
    void walk(Walk& walk, const std::string& name, std::size_t depth) const;

    std::map<std::string, std::vector<std::string>, std::less<>> entries_;  // lower-case names
};

// The table sessions read, replaced whole on reload (SIGHUP): a session
// takes the current one for one RCPT, so a reload never shows it half a
// table. Safe to replace from another thread than the sessions'.
class AliasBook {
public:
    AliasBook() : table_(std::make_shared<const AliasTable>()) {}
    explicit AliasBook(AliasTable table) : table_(std::make_shared<const AliasTable>(std::move(table))) {}

    std::shared_ptr<const AliasTable> current() const { return table_.load(); }
    void replace(AliasTable table) { table_.store(std::make_shared<const AliasTable>(std::move(table))); }

private:
    std::atomic<std::shared_ptr<const AliasTable>> table_;
};

}  // namespace bm::apps
