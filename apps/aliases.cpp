#include "apps/aliases.hpp"

#include <algorithm>
#include <set>

#include "apps/ascii.hpp"

namespace bm::apps {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

bool has_blank_or_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 32 || u == 127;
    });
}

// The next physical line of `rest`, without its CR LF.
std::string_view next_line(std::string_view& rest) {
    std::size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    return line;
}

// Why `target` cannot be an alias's target; empty if it can.
std::string target_problem(std::string_view target) {
    // aliases(5) forms that would run programs or write files as the server.
    if (target.starts_with('|')) return "delivery to a command is not supported: '" + std::string(target) + "'";
    if (target.starts_with('/')) return "delivery to a file is not supported: '" + std::string(target) + "'";
    if (istarts_with(target, ":include:")) return ":include: is not supported";
    if (has_blank_or_control(target)) return "'" + std::string(target) + "' is not one address";
    std::string_view name = target.starts_with('\\') ? target.substr(1) : target;
    std::size_t at = name.rfind('@');
    if (name.size() != target.size() && at != std::string_view::npos)
        return "'" + std::string(target) + "': '\\' goes before a local name only";
    std::string_view local = name.substr(0, at);
    if (local.empty() || (at != std::string_view::npos && at + 1 == name.size()))
        return "'" + std::string(target) + "' is not an address";
    // A local name is a mailbox name: nothing the store could take for a path.
    if (at == std::string_view::npos && (local.front() == '.' || local.find('/') != std::string_view::npos))
        return "'" + std::string(target) + "' is not a mailbox name";
    return {};
}

// The "a, b, c" of one physical line into `targets`; an empty item (a
// trailing comma before a continuation line) is skipped.
std::string split_targets(std::string_view list, std::vector<std::string>& targets) {
    while (!list.empty()) {
        std::size_t comma = list.find(',');
        std::string_view item = trim(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (item.empty()) continue;
        if (std::string problem = target_problem(item); !problem.empty()) return problem;
        targets.emplace_back(item);
    }
    return {};
}

}  // namespace

std::variant<AliasTable, AliasSyntaxError> AliasTable::parse(std::string_view text) {
    AliasTable table;
    std::map<std::string, std::size_t, std::less<>> first_line;  // name -> line it is on
    std::vector<std::string>* current = nullptr;  // the entry a continuation line extends
    std::size_t line_no = 0;
    for (std::string_view rest = text; !rest.empty();) {
        std::string_view line = next_line(rest);
        ++line_no;
        std::string_view content = trim(line);
        // aliases(5): a comment line may sit inside an entry's continuation.
        if (content.empty() || content.starts_with('#')) continue;
        std::string problem;
        if (is_blank(line.front())) {
            if (current == nullptr) return AliasSyntaxError{line_no, "continuation line without an alias above it"};
            problem = split_targets(content, *current);
        } else {
            std::size_t colon = content.find(':');
            if (colon == std::string_view::npos) return AliasSyntaxError{line_no, "no \"name: address, ...\""};
            std::string name = lower_copy(trim(content.substr(0, colon)));
            if (name.empty() || has_blank_or_control(name) || name.find('@') != std::string::npos)
                return AliasSyntaxError{line_no, "'" + name + "' is not a local name"};
            if (auto seen = first_line.find(name); seen != first_line.end())
                return AliasSyntaxError{line_no, "alias '" + name + "' already defined on line " +
                                                     std::to_string(seen->second)};
            first_line.emplace(name, line_no);
            current = &table.entries_[name];
            problem = split_targets(content.substr(colon + 1), *current);
        }
        if (!problem.empty()) return AliasSyntaxError{line_no, problem};
    }
    for (const auto& [name, targets] : table.entries_)
        if (targets.empty())
            return AliasSyntaxError{first_line.find(name)->second, "alias '" + name + "' has no address"};
    return table;
}

bool AliasTable::contains(std::string_view name) const {
    return entries_.find(lower_copy(name)) != entries_.end();
}

struct AliasTable::Walk {
    const IsLocalDomain& is_local_domain;
    AliasExpansion out;
    std::vector<std::string> path;  // the aliases being expanded, lower case
    std::set<std::string> seen;     // leaves so far, as compared

    void add_local(std::string_view name) {
        if (seen.insert(lower_copy(name)).second) out.local_names.emplace_back(name);
    }
    void add_remote(std::string_view address, std::size_t at) {
        // RFC 5321 §2.4: the domain ignores case; the local part may not.
        std::string key = std::string(address.substr(0, at)) + lower_copy(address.substr(at));
        if (seen.insert(key).second) out.remote.emplace_back(address);
    }
    bool on_path(const std::string& lowered) const {
        return std::find(path.begin(), path.end(), lowered) != path.end();
    }
};

AliasExpansion AliasTable::expand(std::string_view name, const IsLocalDomain& is_local_domain) const {
    std::string lowered = lower_copy(name);
    if (entries_.find(lowered) == entries_.end()) return {};
    Walk walk_state{is_local_domain, {}, {lowered}, {}};
    walk_state.out.expanded = true;
    walk(walk_state, lowered, 1);
    return std::move(walk_state.out);
}

// `depth`: the aliases on the path, `name` the last of them.
void AliasTable::walk(Walk& walk_state, const std::string& name, std::size_t depth) const {
    for (const std::string& target : entries_.find(name)->second) {
        if (walk_state.out.too_deep) return;
        std::string_view local = target;
        if (local.starts_with('\\')) {  // aliases(5): "\user" is the mailbox, never an alias
            walk_state.add_local(local.substr(1));
            continue;
        }
        if (std::size_t at = local.rfind('@'); at != std::string_view::npos) {
            if (!walk_state.is_local_domain(lower_copy(local.substr(at + 1)))) {
                walk_state.add_remote(target, at);
                continue;
            }
            local = local.substr(0, at);
        }
        std::string lowered = lower_copy(local);
        if (walk_state.on_path(lowered) || entries_.find(lowered) == entries_.end()) {
            walk_state.add_local(local);
        } else if (depth >= max_alias_depth) {
            walk_state.out.too_deep = true;
        } else {
            walk_state.path.push_back(lowered);
            walk(walk_state, lowered, depth + 1);
            walk_state.path.pop_back();
        }
    }
}

}  // namespace bm::apps
