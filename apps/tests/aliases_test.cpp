// The aliases table: aliases(5) syntax with its errors by line, and the
// expansion at RCPT time (chains, loops, depth, duplicates, remote targets).
#include "apps/aliases.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using bm::apps::AliasBook;
using bm::apps::AliasExpansion;
using bm::apps::AliasSyntaxError;
using bm::apps::AliasTable;

namespace {

AliasTable table_of(std::string_view text) {
    auto parsed = AliasTable::parse(text);
    if (const auto* error = std::get_if<AliasSyntaxError>(&parsed))
        ADD_FAILURE() << "line " << error->line << ": " << error->reason;
    return std::get_if<AliasTable>(&parsed) ? std::get<AliasTable>(parsed) : AliasTable{};
}

AliasSyntaxError error_of(std::string_view text) {
    auto parsed = AliasTable::parse(text);
    if (const auto* error = std::get_if<AliasSyntaxError>(&parsed)) return *error;
    ADD_FAILURE() << "parsed without error: " << text;
    return {};
}

bool local_domain(std::string_view domain) { return domain == "localhost" || domain == "e2e.test"; }

AliasExpansion expand(const AliasTable& table, std::string_view name) {
    return table.expand(name, local_domain);
}

using Names = std::vector<std::string>;

}  // namespace

TEST(AliasesParse, NamesTargetsCommentsBlankLinesAndContinuations) {
    AliasTable table = table_of(
        "# the operator's aliases\r\n"
        "\r\n"
        "postmaster: alice\r\n"
        "Staff: alice, bob,\r\n"
        "  carol@example.org\r\n"
        "   # a comment inside the entry\r\n"
        "\tdave\r\n"
        "   \r\n"
        "team:bob,,\n");
    EXPECT_EQ(table.size(), 3u);
    EXPECT_TRUE(table.contains("POSTMASTER"));
    EXPECT_TRUE(table.contains("staff"));
    AliasExpansion staff = expand(table, "STAFF");
    EXPECT_TRUE(staff.expanded);
    EXPECT_EQ(staff.local_names, (Names{"alice", "bob", "dave"}));
    EXPECT_EQ(staff.remote, (Names{"carol@example.org"}));
}

TEST(AliasesParse, EmptyTextIsAnEmptyTable) {
    EXPECT_EQ(table_of("").size(), 0u);
    EXPECT_EQ(table_of("# nothing\n\n").size(), 0u);
}

TEST(AliasesParse, EachBadLineIsNamedWithItsNumberAndReason) {
    struct Case {
        const char* text;
        std::size_t line;
        const char* reason_part;
    };
    const Case cases[] = {
        {"a: b\nno colon here\n", 2, "no \"name: address"},
        {"  b\n", 1, "continuation line without an alias"},
        {": b\n", 1, "not a local name"},
        {"a b: c\n", 1, "not a local name"},
        {"a@example.org: c\n", 1, "not a local name"},
        {"a: b\n\nA: c\n", 3, "already defined on line 1"},
        {"a: |/usr/bin/procmail\n", 1, "command is not supported"},
        {"a: /var/mail/a\n", 1, "file is not supported"},
        {"a: :include:/etc/list\n", 1, ":include: is not supported"},
        {"a: b,\n  @example.org\n", 2, "is not an address"},
        {"a: b@\n", 1, "is not an address"},
        {"a: ../etc\n", 1, "not a mailbox name"},
        {"a: \\b@example.org\n", 1, "local name only"},
        {"x: y\na:\n", 2, "has no address"},
        {"a: ,\n", 1, "has no address"},
    };
    for (const Case& c : cases) {
        AliasSyntaxError error = error_of(c.text);
        EXPECT_EQ(error.line, c.line) << c.text;
        EXPECT_NE(error.reason.find(c.reason_part), std::string::npos) << c.text << " -> " << error.reason;
    }
}

TEST(AliasesExpand, ANameThatIsNoAliasIsNotExpanded) {
    AliasTable table = table_of("a: b\n");
    AliasExpansion e = expand(table, "alice");
    EXPECT_FALSE(e.expanded);
    EXPECT_TRUE(e.local_names.empty());
    EXPECT_TRUE(e.remote.empty());
}

TEST(AliasesExpand, AliasesOfAliasesAreFollowed) {
    AliasTable table = table_of("postmaster: root\nroot: admins\nadmins: alice, bob@e2e.test\n");
    AliasExpansion e = expand(table, "Postmaster");
    EXPECT_EQ(e.local_names, (Names{"alice", "bob"}));
    EXPECT_TRUE(e.remote.empty());
    EXPECT_FALSE(e.too_deep);
}

TEST(AliasesExpand, AnAddressAtALocalDomainIsItsLocalName) {
    AliasTable table = table_of("a: Team@E2E.TEST, x@localhost\nteam: carol\n");
    EXPECT_EQ(expand(table, "a").local_names, (Names{"carol", "x"}));
}

// Postfix local(8), Sendmail: "root: root, admin" keeps root's own copy.
TEST(AliasesExpand, ANameOnTheWayToItselfIsAMailbox) {
    AliasTable table = table_of("root: root, admin\n");
    EXPECT_EQ(expand(table, "root").local_names, (Names{"root", "admin"}));
}

TEST(AliasesExpand, ALoopStopsAtTheNameThatClosesIt) {
    AliasTable table = table_of("a: b\nb: c\nc: a, remote@example.org\n");
    AliasExpansion e = expand(table, "a");
    EXPECT_EQ(e.local_names, (Names{"a"}));
    EXPECT_EQ(e.remote, (Names{"remote@example.org"}));
    EXPECT_FALSE(e.too_deep);
    EXPECT_EQ(expand(table, "b").local_names, (Names{"b"}));
}

TEST(AliasesExpand, AChainDeeperThanTheLimitIsRefused) {
    // a0 -> a1 -> ... -> aN -> user: N + 1 aliases on the way.
    auto chain = [](std::size_t aliases) {
        std::string text;
        for (std::size_t i = 0; i + 1 < aliases; ++i)
            text += "a" + std::to_string(i) + ": a" + std::to_string(i + 1) + "\n";
        text += "a" + std::to_string(aliases - 1) + ": user\n";
        return text;
    };
    AliasExpansion at_limit = expand(table_of(chain(bm::apps::max_alias_depth)), "a0");
    EXPECT_FALSE(at_limit.too_deep);
    EXPECT_EQ(at_limit.local_names, (Names{"user"}));
    EXPECT_TRUE(expand(table_of(chain(bm::apps::max_alias_depth + 1)), "a0").too_deep);
}

TEST(AliasesExpand, DuplicatesAfterExpansionComeOnce) {
    AliasTable table = table_of(
        "all: alice, team, Alice, x@Example.ORG, x@example.org, X@example.org\n"
        "team: alice, bob\n");
    AliasExpansion e = expand(table, "all");
    EXPECT_EQ(e.local_names, (Names{"alice", "bob"}));
    // The domain ignores case, the local part may not (RFC 5321 §2.4).
    EXPECT_EQ(e.remote, (Names{"x@Example.ORG", "X@example.org"}));
}

TEST(AliasesExpand, ABackslashNameIsTheMailboxNeverAnAlias) {
    AliasTable table = table_of("alice: \\alice, bob\nbob: carol\n");
    EXPECT_EQ(expand(table, "alice").local_names, (Names{"alice", "carol"}));
}

TEST(AliasBook, AReplacedTableLeavesTheOneATakerHoldsIntact) {
    AliasBook book(table_of("a: b\n"));
    auto held = book.current();
    book.replace(table_of("a: c\n"));
    EXPECT_EQ(expand(*held, "a").local_names, (Names{"b"}));
    EXPECT_EQ(expand(*book.current(), "a").local_names, (Names{"c"}));
    EXPECT_EQ(AliasBook().current()->size(), 0u);
}
