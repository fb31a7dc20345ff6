// The aliases file from disk: errors name FILE:LINE, the postmaster rule
// at start (RFC 5321 §4.5.1), and a reload that keeps the old table when
// the new file is bad.
#include "store/aliases.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

// The what() of what `action` throws, or "" if it throws nothing.
template <typename Action>
std::string thrown(Action action) {
    try {
        action();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return {};
}

bool local(std::string_view domain) { return domain == "localhost"; }

}  // namespace

TEST(AliasesFile, LoadsTheTable) {
    TempDir dir;
    write_text(dir / "aliases", "# site aliases\npostmaster: alice\nteam: alice,\n  bob@example.org\n");
    bm::apps::AliasTable table = load_aliases(dir / "aliases");
    EXPECT_EQ(table.size(), 2u);
    EXPECT_EQ(table.expand("team", local).remote, std::vector<std::string>{"bob@example.org"});
    EXPECT_EQ(load_aliases("").size(), 0u);
}

TEST(AliasesFile, ABadLineIsNamedAsFileColonLine) {
    TempDir dir;
    write_text(dir / "aliases", "postmaster: alice\n\nbroken line\n");
    EXPECT_EQ(thrown([&] { load_aliases(dir / "aliases"); }),
              "aliases file " + (dir / "aliases") + ":3: no \"name: address, ...\"");
}

TEST(AliasesFile, AMissingFileSaysItCannotBeRead) {
    TempDir dir;
    std::string why = thrown([&] { load_aliases(dir / "nope"); });
    EXPECT_TRUE(why.starts_with("aliases file " + (dir / "nope") + ": cannot read: ")) << why;
}

TEST(AliasesFile, PostmasterIsAnAliasOrAMailboxOrItIsMissing) {
    TempDir dir;
    std::string none = missing_postmaster({}, dir.path());
    EXPECT_NE(none.find("no postmaster"), std::string::npos) << none;
    EXPECT_NE(none.find(dir / "postmaster"), std::string::npos) << none;

    write_text(dir / "aliases", "PostMaster: alice\n");
    EXPECT_EQ(missing_postmaster(load_aliases(dir / "aliases"), dir.path()), "");

    make_maildir(dir / "postmaster");
    EXPECT_EQ(missing_postmaster({}, dir.path()), "");
}

TEST(AliasesFile, APostmasterMboxCountsAsItsMailbox) {
    TempDir dir;
    write_text(dir / "postmaster.mbox", "");
    EXPECT_EQ(missing_postmaster({}, dir.path()), "");
}

TEST(AliasesFile, AReloadWithABadFileKeepsTheOldTable) {
    TempDir dir;
    write_text(dir / "aliases", "team: alice\n");
    bm::apps::AliasBook book(load_aliases(dir / "aliases"));
    write_text(dir / "aliases", "team: alice, bob\n");
    EXPECT_EQ(reload_aliases(book, dir / "aliases"), "");
    EXPECT_EQ(book.current()->expand("team", local).local_names, (std::vector<std::string>{"alice", "bob"}));

    write_text(dir / "aliases", "team: alice\nteam: carol\n");
    std::string why = reload_aliases(book, dir / "aliases");
    EXPECT_NE(why.find(":2: alias 'team' already defined on line 1"), std::string::npos) << why;
    EXPECT_NE(why.find("previous aliases stay in use"), std::string::npos) << why;
    EXPECT_EQ(book.current()->expand("team", local).local_names, (std::vector<std::string>{"alice", "bob"}));
}
