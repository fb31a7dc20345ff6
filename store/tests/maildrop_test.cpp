#include <gtest/gtest.h>

#include <set>
#include <sys/wait.h>
#include <unistd.h>

#include "store/digest.hpp"
#include "store/mail_store.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

Status deliver_now(MailStore& store, const std::string& user, const std::string& text) {
    return bm::store::test::deliver_now(store, Delivery{"q", "a@b", {user}, {}, text});
}

struct Session {
    std::uint32_t handle = 0;
    std::vector<MaildropEntry> entries;
};

Status open(MailStore& store, const std::string& user, Session& s) {
    return store.open_maildrop(user, "pw", "", "", s.handle, s.entries);
}

// A mail dir with alice (Maildir) and carol (mbox), both password "pw".
class Maildrop : public ::testing::Test {
protected:
    void SetUp() override {
        make_maildir(dir / "alice");
        write_text(dir / "carol.mbox", "");
        write_text(dir / "users", "alice:pw\ncarol:pw\nnobox:pw\n");
        store = std::make_unique<MailStore>(StoreConfig{dir.path(), "", dir / "users", "h"});
    }
    void deliver_three(const std::string& user) {
        ASSERT_EQ(deliver_now(*store, user, m1), Status::ok);
        ASSERT_EQ(deliver_now(*store, user, m2), Status::ok);
        ASSERT_EQ(deliver_now(*store, user, m3), Status::ok);
    }
    std::vector<std::string> texts(Session& s) {
        std::vector<std::string> out;
        for (std::uint32_t i = 0; i < s.entries.size(); ++i) {
            std::string t;
            EXPECT_EQ(read_whole(*store, s.handle, i, -1, t), Status::ok);
            out.push_back(t);
        }
        return out;
    }

    TempDir dir;
    std::unique_ptr<MailStore> store;
    const std::string m1 = "Subject: one\r\n\r\nfirst\r\n";
    const std::string m2 = "Subject: two\r\n\r\nFrom here\r\n>From there\r\n";
    const std::string m3 = "Subject: three\r\n\r\nl1\r\nl2\r\nl3\r\n";
};

}  // namespace

TEST(MaildropAuth, NoUsersFileRefusesEveryone) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    Session s;
    EXPECT_EQ(store.open_maildrop("alice", "", "", "", s.handle, s.entries), Status::auth_failed);
    EXPECT_EQ(store.open_maildrop("alice", "pw", "", "", s.handle, s.entries), Status::auth_failed);
}

TEST_F(Maildrop, WrongPasswordOrUnknownUserIsAuthFailed) {
    Session s;
    EXPECT_EQ(store->open_maildrop("alice", "nope", "", "", s.handle, s.entries), Status::auth_failed);
    EXPECT_EQ(store->open_maildrop("mallory", "pw", "", "", s.handle, s.entries), Status::auth_failed);
}

TEST_F(Maildrop, ApopLoginOpensTheMaildrop) {
    std::string ts = "<123.456@h>";
    Session s;
    EXPECT_EQ(store->open_maildrop("alice", "", hex_md5({ts, "pw"}), ts, s.handle, s.entries),
              Status::ok);
    EXPECT_EQ(store->close_maildrop(s.handle, {}, false), Status::ok);
}

TEST_F(Maildrop, UserWithoutMailboxGetsEmptyMaildrop) {
    Session s;
    ASSERT_EQ(open(*store, "nobox", s), Status::ok);
    EXPECT_TRUE(s.entries.empty());
    EXPECT_EQ(store->close_maildrop(s.handle, {0}, true), Status::ok);
}

// Users "Alice" and "alice" are two users: a login never folds case, so
// Alice's password opens Alice's (here empty) maildrop, never alice's.
TEST_F(Maildrop, LoginNameIsTheMailboxNameCaseIncluded) {
    write_text(dir / "users", "alice:pw\nAlice:pw\n");
    deliver_three("alice");
    Session upper;
    ASSERT_EQ(open(*store, "Alice", upper), Status::ok);
    EXPECT_TRUE(upper.entries.empty());
    Session lower;  // not locked by Alice's session: another maildrop
    ASSERT_EQ(open(*store, "alice", lower), Status::ok);
    EXPECT_EQ(lower.entries.size(), 3u);
    EXPECT_EQ(store->close_maildrop(upper.handle, {}, false), Status::ok);
    EXPECT_EQ(store->close_maildrop(lower.handle, {}, false), Status::ok);
    EXPECT_EQ(open(*store, "ALICE", upper), Status::auth_failed);  // no such user
}

TEST_F(Maildrop, SecondOpenIsInUseUntilTheFirstCloses) {
    Session first, second;
    ASSERT_EQ(open(*store, "alice", first), Status::ok);
    EXPECT_EQ(open(*store, "alice", second), Status::in_use);
    EXPECT_EQ(open(*store, "carol", second), Status::ok);  // others are not affected
    EXPECT_EQ(store->close_maildrop(second.handle, {}, false), Status::ok);
    EXPECT_EQ(store->close_maildrop(first.handle, {}, false), Status::ok);
    EXPECT_EQ(open(*store, "alice", second), Status::ok);
    EXPECT_EQ(store->close_maildrop(second.handle, {}, false), Status::ok);
}

TEST_F(Maildrop, LockHoldsAgainstAnotherProcess) {
    Session first;
    ASSERT_EQ(open(*store, "alice", first), Status::ok);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        MailStore other(StoreConfig{dir.path(), "", dir / "users", "h"});
        Session s;
        ::_exit(other.open_maildrop("alice", "pw", "", "", s.handle, s.entries) == Status::in_use
                    ? 0 : 1);
    }
    int wstatus = 0;
    ::waitpid(child, &wstatus, 0);
    EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    store->close_maildrop(first.handle, {}, false);
}

TEST_F(Maildrop, UnknownHandleIsNotFound) {
    std::string t;
    EXPECT_EQ(read_whole(*store, 12345, 0, -1, t), Status::not_found);
    EXPECT_EQ(store->close_maildrop(12345, {}, true), Status::not_found);
    Session s;
    ASSERT_EQ(open(*store, "alice", s), Status::ok);
    EXPECT_EQ(read_whole(*store, s.handle, 0, -1, t), Status::not_found);  // empty maildrop
    store->close_maildrop(s.handle, {}, false);
}

TEST_F(Maildrop, MaildirMessagesInDeliveryOrderWithSizesOfReadText) {
    deliver_three("alice");
    // A file from another MDA: LF lines, no size in the name, in cur/.
    write_text(dir / "alice/cur/9999999999.foreign.host:2,S", "Subject: lf\n\nbare\nlines\n");
    Session s;
    ASSERT_EQ(open(*store, "alice", s), Status::ok);
    auto t = texts(s);
    ASSERT_EQ(t.size(), 4u);
    EXPECT_EQ(t[0], m1);
    EXPECT_EQ(t[1], m2);
    EXPECT_EQ(t[2], m3);
    EXPECT_EQ(t[3], "Subject: lf\r\n\r\nbare\r\nlines\r\n");
    for (std::size_t i = 0; i < t.size(); ++i) EXPECT_EQ(s.entries[i].size, t[i].size()) << i;
    store->close_maildrop(s.handle, {}, false);
}

TEST_F(Maildrop, MboxSizesEqualReadTextSizes) {
    deliver_three("carol");
    Session s;
    ASSERT_EQ(open(*store, "carol", s), Status::ok);
    auto t = texts(s);
    ASSERT_EQ(t, (std::vector<std::string>{m1, m2, m3}));
    for (std::size_t i = 0; i < t.size(); ++i) EXPECT_EQ(s.entries[i].size, t[i].size()) << i;
    store->close_maildrop(s.handle, {}, false);
}

TEST_F(Maildrop, TopGivesHeaderBlankLineAndNLines_Rfc1939Top) {
    deliver_three("alice");
    Session s;
    ASSERT_EQ(open(*store, "alice", s), Status::ok);
    std::string t;
    ASSERT_EQ(read_whole(*store, s.handle, 2, 2, t), Status::ok);
    EXPECT_EQ(t, "Subject: three\r\n\r\nl1\r\nl2\r\n");
    ASSERT_EQ(read_whole(*store, s.handle, 2, 0, t), Status::ok);
    EXPECT_EQ(t, "Subject: three\r\n\r\n");
    store->close_maildrop(s.handle, {}, false);
}

TEST_F(Maildrop, UidsStableAcrossSessionsAndUniqueForIdenticalMessages) {
    for (const std::string user : {"alice", "carol"}) {
        ASSERT_EQ(deliver_now(*store, user, m1), Status::ok);
        ASSERT_EQ(deliver_now(*store, user, m1), Status::ok);
        ASSERT_EQ(deliver_now(*store, user, m1), Status::ok);
        Session a, b;
        ASSERT_EQ(open(*store, user, a), Status::ok);
        store->close_maildrop(a.handle, {}, false);
        ASSERT_EQ(open(*store, user, b), Status::ok);
        store->close_maildrop(b.handle, {}, false);
        ASSERT_EQ(a.entries.size(), 3u) << user;
        std::set<std::string> distinct;
        for (std::size_t i = 0; i < 3; ++i) {
            EXPECT_EQ(a.entries[i].uid, b.entries[i].uid) << user;
            distinct.insert(a.entries[i].uid);
            // RFC 1939 §7: 1 to 70 characters in 0x21..0x7E.
            EXPECT_LE(a.entries[i].uid.size(), 70u);
            for (char c : a.entries[i].uid) EXPECT_TRUE(c >= 0x21 && c <= 0x7e);
        }
        EXPECT_EQ(distinct.size(), 3u) << user;
    }
}

TEST_F(Maildrop, MboxDuplicatesWithSameFromLineGetDistinctUids) {
    std::string same = "From a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\nsame\n\n";
    write_text(dir / "carol.mbox", same + same);
    Session s;
    ASSERT_EQ(open(*store, "carol", s), Status::ok);
    ASSERT_EQ(s.entries.size(), 2u);
    EXPECT_NE(s.entries[0].uid, s.entries[1].uid);
    store->close_maildrop(s.handle, {}, false);
}

TEST_F(Maildrop, MaildirDeletionsHappenOnlyOnCommit) {
    deliver_three("alice");
    Session s;
    ASSERT_EQ(open(*store, "alice", s), Status::ok);
    EXPECT_EQ(store->close_maildrop(s.handle, {0, 2}, false), Status::ok);
    EXPECT_EQ(names_in(dir / "alice/new").size(), 3u);
    ASSERT_EQ(open(*store, "alice", s), Status::ok);
    std::string kept_uid = s.entries[1].uid;
    EXPECT_EQ(store->close_maildrop(s.handle, {0, 2, 2, 99}, true), Status::ok);
    ASSERT_EQ(open(*store, "alice", s), Status::ok);
    ASSERT_EQ(s.entries.size(), 1u);
    EXPECT_EQ(s.entries[0].uid, kept_uid);
    EXPECT_EQ(texts(s), std::vector<std::string>{m2});
    store->close_maildrop(s.handle, {}, false);
}

TEST_F(Maildrop, MaildirMessageMovedToCurIsStillReadAndDeleted) {
    ASSERT_EQ(deliver_now(*store, "alice", m1), Status::ok);
    Session s;
    ASSERT_EQ(open(*store, "alice", s), Status::ok);
    std::string name = names_in(dir / "alice/new").at(0);
    fs::rename(dir / ("alice/new/" + name), dir / ("alice/cur/" + name + ":2,S"));
    std::string t;
    ASSERT_EQ(read_whole(*store, s.handle, 0, -1, t), Status::ok);
    EXPECT_EQ(t, m1);
    EXPECT_EQ(store->close_maildrop(s.handle, {0}, true), Status::ok);
    EXPECT_TRUE(names_in(dir / "alice/cur").empty());
}

TEST_F(Maildrop, MboxDeletionsOnCommitKeepMailArrivedDuringTheSession) {
    write_text(dir / "carol.mbox", "preamble\n");
    deliver_three("carol");
    Session s;
    ASSERT_EQ(open(*store, "carol", s), Status::ok);
    ASSERT_EQ(s.entries.size(), 3u);
    EXPECT_EQ(store->close_maildrop(s.handle, {1}, false), Status::ok);
    ASSERT_EQ(open(*store, "carol", s), Status::ok);
    ASSERT_EQ(s.entries.size(), 3u);
    std::string late = "Subject: late\r\n\r\narrived during the session\r\n";
    ASSERT_EQ(deliver_now(*store, "carol", late), Status::ok);
    EXPECT_EQ(store->close_maildrop(s.handle, {0, 2}, true), Status::ok);
    ASSERT_EQ(open(*store, "carol", s), Status::ok);
    EXPECT_EQ(texts(s), (std::vector<std::string>{m2, late}));
    store->close_maildrop(s.handle, {}, false);
    EXPECT_TRUE(read_text(dir / "carol.mbox").starts_with("preamble\n\nFrom a@b "));
    EXPECT_FALSE(fs::exists(dir / "carol.mbox.lock"));
}

TEST_F(Maildrop, MboxChangedBehindOurBackIsNotRewritten) {
    deliver_three("carol");
    Session s;
    ASSERT_EQ(open(*store, "carol", s), Status::ok);
    std::string other = "From x Mon Jan  1 00:00:00 2024\nSubject: other\n\nx\n\n";
    write_text(dir / "carol.mbox", other);  // a mail reader rewrote it in place
    EXPECT_EQ(store->close_maildrop(s.handle, {0}, true), Status::temp_failure);
    EXPECT_EQ(read_text(dir / "carol.mbox"), other);
    ASSERT_EQ(open(*store, "carol", s), Status::ok);  // the lock was released anyway
    store->close_maildrop(s.handle, {}, false);
}

TEST_F(Maildrop, UsersFileChangesApplyWithoutRestart) {
    Session s;
    EXPECT_EQ(store->open_maildrop("alice", "new", "", "", s.handle, s.entries), Status::auth_failed);
    write_text(dir / "users", "alice:new\n");
    EXPECT_EQ(store->open_maildrop("alice", "new", "", "", s.handle, s.entries), Status::ok);
    store->close_maildrop(s.handle, {}, false);
}
