#include <gtest/gtest.h>

#include <sys/mount.h>

#include "store/mail_store.hpp"
#include "store/queue.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

// A small tmpfs, so a write runs out of space for real (CI runs as root).
class TinyFilesystem {
public:
    explicit TinyFilesystem(const std::string& at) : at_(at) {
        fs::create_directories(at_);
        mounted_ = ::mount("tmpfs", at_.c_str(), "tmpfs", 0, "size=256k") == 0;
    }
    ~TinyFilesystem() {
        if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
    }
    bool mounted() const { return mounted_; }

private:
    std::string at_;
    bool mounted_ = false;
};

const std::string small = "Subject: s\r\n\r\nbody\r\n";

std::string big_message(std::size_t octets) {
    std::string m = "Subject: big\r\n\r\n";
    std::string line(76, 'x');
    line += "\r\n";
    while (m.size() < octets) m += line;
    return m;
}

}  // namespace

TEST(AllOrNothing, BrokenMaildirLeavesNoCopyInTheOthers) {
    TempDir dir;
    make_maildir(dir / "alice");
    make_maildir(dir / "bob");
    make_maildir(dir / "zed");
    fs::remove(dir / "bob/tmp");
    write_text(dir / "bob/tmp", "not a directory");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    Status s = deliver_now(store, Delivery{"q", "x@y", {"alice", "bob", "zed"}, {"r@remote.example"}, small});
    EXPECT_NE(s, Status::ok);
    for (const char* user : {"alice", "zed"}) {
        EXPECT_TRUE(names_in(dir / (std::string(user) + "/new")).empty()) << user;
        EXPECT_TRUE(names_in(dir / (std::string(user) + "/tmp")).empty()) << user;
    }
    EXPECT_TRUE(queue::list(dir / ".queue").empty());
    EXPECT_TRUE(names_in(dir / ".queue/tmp").empty());
}

TEST(AllOrNothing, BrokenMaildirLeavesMboxUntouched) {
    TempDir dir;
    write_text(dir / "carol.mbox", "");
    make_maildir(dir / "bob");
    fs::remove(dir / "bob/tmp");
    write_text(dir / "bob/tmp", "not a directory");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    EXPECT_NE(deliver_now(store, Delivery{"q", "x@y", {"carol", "bob"}, {}, small}), Status::ok);
    EXPECT_EQ(fs::file_size(dir / "carol.mbox"), 0u);
}

TEST(AllOrNothing, VanishedMailboxFailsTheWholeDelivery) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    EXPECT_EQ(deliver_now(store, Delivery{"q", "x@y", {"alice", "gone"}, {}, small}),
              Status::temp_failure);
    EXPECT_TRUE(names_in(dir / "alice/new").empty());
}

TEST(AllOrNothing, DiskFullInMaildirIsNoSpaceAndLeavesNothing) {
    TempDir dir;
    TinyFilesystem tiny(dir / "mail");
    if (!tiny.mounted()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
    make_maildir(dir / "mail/alice");
    MailStore store(StoreConfig{dir / "mail", dir / "queue", "", "h"});
    EXPECT_EQ(deliver_now(store, Delivery{"q", "x@y", {"alice"}, {}, big_message(512 * 1024)}),
              Status::no_space);
    EXPECT_TRUE(names_in(dir / "mail/alice/new").empty());
    EXPECT_TRUE(names_in(dir / "mail/alice/tmp").empty());
    // The space is back: a small message still goes through.
    EXPECT_EQ(deliver_now(store, Delivery{"q2", "x@y", {"alice"}, {}, small}), Status::ok);
}

TEST(AllOrNothing, DiskFullOnOneMailboxLeavesNoCopyOnAnother) {
    TempDir dir;
    make_maildir(dir / "alice");
    TinyFilesystem tiny(dir / "bob");
    if (!tiny.mounted()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
    make_maildir(dir / "bob");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    EXPECT_EQ(deliver_now(store, Delivery{"q", "x@y", {"alice", "bob"}, {}, big_message(400 * 1024)}),
              Status::no_space);
    EXPECT_TRUE(names_in(dir / "alice/new").empty());
    EXPECT_TRUE(names_in(dir / "alice/tmp").empty());
    EXPECT_TRUE(names_in(dir / "bob/tmp").empty());
}

TEST(AllOrNothing, DiskFullInMboxCutsItBackAndDropsTheMaildirCopy) {
    TempDir dir;
    TinyFilesystem tiny(dir / "mail");
    if (!tiny.mounted()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
    const std::string before = "From a Mon Jan  1 00:00:00 2024\nSubject: old\n\nold\n\n";
    write_text(dir / "mail/carol.mbox", before);
    make_maildir(dir / "mail/alice");
    MailStore store(StoreConfig{dir / "mail", dir / "queue", "", "h"});
    // Fits once (the Maildir copy) but not twice (the mbox append).
    EXPECT_EQ(deliver_now(store, Delivery{"q", "x@y", {"alice", "carol"}, {}, big_message(160 * 1024)}),
              Status::no_space);
    EXPECT_EQ(read_text(dir / "mail/carol.mbox"), before);
    EXPECT_FALSE(fs::exists(dir / "mail/carol.mbox.lock"));
    EXPECT_TRUE(names_in(dir / "mail/alice/new").empty());
    EXPECT_TRUE(names_in(dir / "mail/alice/tmp").empty());
}

TEST(AllOrNothing, DiskFullInSecondMboxCutsTheFirstMboxBack) {
    TempDir dir;
    TinyFilesystem tiny(dir / "mail");
    if (!tiny.mounted()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
    write_text(dir / "mail/carol.mbox", "");
    write_text(dir / "mail/dave.mbox", "");
    MailStore store(StoreConfig{dir / "mail", dir / "queue", "", "h"});
    EXPECT_EQ(deliver_now(store, Delivery{"q", "x@y", {"carol", "dave"}, {}, big_message(160 * 1024)}),
              Status::no_space);
    EXPECT_EQ(fs::file_size(dir / "mail/carol.mbox"), 0u);
    EXPECT_EQ(fs::file_size(dir / "mail/dave.mbox"), 0u);
    EXPECT_EQ(names_in(dir / "mail"), (std::vector<std::string>{"carol.mbox", "dave.mbox"}));
}
