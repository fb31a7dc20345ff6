#include <gtest/gtest.h>

#include <ctime>

#include "store/mail_store.hpp"
#include "store/queue.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

const std::string content = "Subject: out\r\n\r\nfrom: inside the body\r\n\r\n.\r\n";

}  // namespace

TEST(Queue, RemoteRecipientsGetOneDurableQueueFileWithEnvelope) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    std::time_t before = std::time(nullptr);
    ASSERT_EQ(deliver_now(store, Delivery{"Q1.abc.1", "bob@example.org", {"alice"},
                                          {"x@remote.example", "\"y z\"@other.example"}, content}),
              Status::ok);
    auto names = queue::list(dir / ".queue");
    ASSERT_EQ(names, std::vector<std::string>{"Q1.abc.1"});
    EXPECT_TRUE(names_in(dir / ".queue/tmp").empty());
    queue::Entry e;
    ASSERT_EQ(queue::read(dir / ".queue", names[0], e), Status::ok);
    EXPECT_EQ(e.name, "Q1.abc.1");
    EXPECT_EQ(e.id, "Q1.abc.1");
    EXPECT_EQ(e.sender, "bob@example.org");
    EXPECT_EQ(e.attempts, 0u);
    EXPECT_GE(e.created, before);
    EXPECT_EQ(e.next_try, e.created);
    ASSERT_EQ(e.recipients.size(), 2u);
    EXPECT_EQ(e.recipients[0].state, queue::RecipientState::pending);
    EXPECT_EQ(e.recipients[0].address, "x@remote.example");
    EXPECT_EQ(e.recipients[1].address, "\"y z\"@other.example");
    EXPECT_EQ(e.content, content);
    EXPECT_EQ(names_in(dir / "alice/new").size(), 1u);
}

TEST(Queue, FileStartsWithMagicAndHeaderFields) {
    queue::Entry e{"", "id1", 100, "", 2, 400, {{queue::RecipientState::failed, "a@b", "550 no"}}, "X\r\n"};
    EXPECT_EQ(queue::format(e),
              "baremail-queue 1\nid: id1\ncreated: 100\nsender: \nattempts: 2\nnext-try: 400\n"
              "rcpt: failed a@b\ndiag: 550 no\n\nX\r\n");
}

TEST(Queue, RewriteReplacesTheFileAtomicallyWithNewState) {
    TempDir dir;
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    ASSERT_EQ(deliver_now(store, Delivery{"id7", "", {}, {"a@x.example", "b@y.example"}, content}),
              Status::ok);
    queue::Entry e;
    ASSERT_EQ(queue::read(dir / ".queue", "id7", e), Status::ok);
    e.attempts = 1;
    e.next_try += 300;
    e.recipients[0].state = queue::RecipientState::sent;
    e.recipients[1].diagnostic = "451 4.3.0 try later\r\ninjected: yes";
    CommitGroup group;
    Status status = Status::temp_failure;
    queue::rewrite(dir / ".queue", e, group, &status);
    group.flush();
    ASSERT_EQ(status, Status::ok);
    queue::Entry again;
    ASSERT_EQ(queue::read(dir / ".queue", "id7", again), Status::ok);
    EXPECT_EQ(again.attempts, 1u);
    EXPECT_EQ(again.next_try, e.next_try);
    EXPECT_EQ(again.recipients[0].state, queue::RecipientState::sent);
    EXPECT_EQ(again.recipients[1].state, queue::RecipientState::pending);
    EXPECT_EQ(again.recipients[1].diagnostic, "451 4.3.0 try later  injected: yes");
    EXPECT_EQ(again.content, content);
    EXPECT_EQ(queue::list(dir / ".queue"), std::vector<std::string>{"id7"});
    EXPECT_TRUE(names_in(dir / ".queue/tmp").empty());
    EXPECT_EQ(queue::remove(dir / ".queue", "id7"), Status::ok);
    EXPECT_TRUE(queue::list(dir / ".queue").empty());
}

TEST(Queue, UnsafeOrTakenIdGetsAFreshFileName) {
    TempDir dir;
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    ASSERT_EQ(deliver_now(store, Delivery{"../evil", "", {}, {"a@x"}, content}), Status::ok);
    ASSERT_EQ(deliver_now(store, Delivery{"same", "", {}, {"a@x"}, content}), Status::ok);
    ASSERT_EQ(deliver_now(store, Delivery{"same", "", {}, {"b@x"}, content}), Status::ok);
    auto names = queue::list(dir / ".queue");
    ASSERT_EQ(names.size(), 3u);
    int ids_same = 0;
    for (const auto& n : names) {
        queue::Entry e;
        ASSERT_EQ(queue::read(dir / ".queue", n, e), Status::ok);
        ids_same += e.id == "same";
        EXPECT_EQ(n.find('/'), std::string::npos);
    }
    EXPECT_EQ(ids_same, 2);
}

TEST(Queue, HalfWrittenOrForeignFilesAreNotMessages) {
    std::string error;
    EXPECT_FALSE(queue::parse("baremail-queue 1\nid: x\n", &error).has_value());
    EXPECT_FALSE(queue::parse("something else\nid: x\nrcpt: pending a@b\n\nX", &error).has_value());
    EXPECT_FALSE(queue::parse("baremail-queue 1\nrcpt: bogus a@b\n\nX", &error).has_value());
    EXPECT_TRUE(queue::parse("baremail-queue 1\nid: x\nfuture: field\nrcpt: pending a@b\n\nX")
                    .has_value());
    TempDir dir;
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    write_text(dir / ".queue/tmp/partial", "baremail-queue 1\n");
    write_text(dir / ".queue/.hidden", "x");
    EXPECT_TRUE(queue::list(dir / ".queue").empty());
    write_text(dir / ".queue/garbage", "not a queue file");
    queue::Entry e;
    EXPECT_EQ(queue::read(dir / ".queue", "garbage", e), Status::permanent_failure);
    EXPECT_EQ(queue::read(dir / ".queue", "missing", e), Status::not_found);
}
