// The store under injected disk faults: this program is linked with the
// fault shim (harness/testing/fault_shim.cpp), whose fsync, fdatasync,
// rename, write and open come before libc's, and each test arms it
// through the environment.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "store/mail_store.hpp"
#include "store/mbox.hpp"
#include "store/queue.hpp"
#include "test_support.hpp"

extern "C" void bm_fault_shim_reload();

using namespace bm::store;
using namespace bm::store::test;

namespace {

const std::string content = "Subject: s\r\n\r\nhello\r\n";

// Arms the shim for one test; disarms it when the test ends.
class Faults {
public:
    Faults(const std::string& calls, const std::string& path, const std::string& err = "EIO",
           long after = 0, long times = -1) {
        ::setenv("BM_FAULT_CALLS", calls.c_str(), 1);
        ::setenv("BM_FAULT_PATH", path.c_str(), 1);
        ::setenv("BM_FAULT_ERRNO", err.c_str(), 1);
        ::setenv("BM_FAULT_AFTER", std::to_string(after).c_str(), 1);
        ::setenv("BM_FAULT_TIMES", std::to_string(times).c_str(), 1);
        ::setenv("BM_FAULT_LOG", (log_.path() + "/faults").c_str(), 1);
        bm_fault_shim_reload();
    }
    ~Faults() { disarm(); }
    void disarm() {
        for (const char* name : {"BM_FAULT_CALLS", "BM_FAULT_PATH", "BM_FAULT_ERRNO",
                                 "BM_FAULT_AFTER", "BM_FAULT_TIMES", "BM_FAULT_LOG"})
            ::unsetenv(name);
        bm_fault_shim_reload();
    }
    // Lines the shim wrote, one per injected fault.
    std::string injected() const {
        return fs::exists(log_ / "faults") ? read_text(log_ / "faults") : std::string();
    }

private:
    TempDir log_;
};

Status rewrite_now(const std::string& queue_dir, const queue::Entry& e, CommitGroup& group) {
    Status status = Status::temp_failure;
    queue::rewrite(queue_dir, e, group, &status);
    group.flush();
    return status;
}

}  // namespace

TEST(StoreFaults, ShimDoesNothingUnlessArmed) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    EXPECT_EQ(deliver_now(store, Delivery{"q1", "x@y", {"alice"}, {}, content}), Status::ok);
    EXPECT_EQ(names_in(dir / "alice/new").size(), 1u);
}

TEST(StoreFaults, FailingFdatasyncOnDeliveryIsTempFailureAndLeavesNoCopy) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    Faults faults("fdatasync", "*/alice/tmp/*");
    EXPECT_EQ(deliver_now(store, Delivery{"q1", "x@y", {"alice"}, {"r@remote.example"}, content}),
              Status::temp_failure);
    EXPECT_NE(faults.injected().find("fdatasync"), std::string::npos);
    EXPECT_TRUE(names_in(dir / "alice/new").empty());
    EXPECT_TRUE(names_in(dir / "alice/tmp").empty());
    EXPECT_TRUE(queue::list(dir / ".queue").empty());  // all or nothing
}

TEST(StoreFaults, FullDiskOnFdatasyncIsNoSpace) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    Faults faults("fdatasync", "*/alice/tmp/*", "ENOSPC");
    EXPECT_EQ(deliver_now(store, Delivery{"q1", "x@y", {"alice"}, {}, content}), Status::no_space);
}

TEST(StoreFaults, FailingDirFsyncAfterDeliveryKeepsTheRenamedFileAndFails) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    Faults faults("fsync", dir / "alice/new");
    EXPECT_EQ(deliver_now(store, Delivery{"q1", "x@y", {"alice"}, {}, content}), Status::temp_failure);
    EXPECT_NE(faults.injected().find("fsync " + (dir / "alice/new")), std::string::npos);
    // Visible after the rename: never unlinked (the client retries; a
    // duplicate at worst, RFC 5321 §6.1).
    EXPECT_EQ(names_in(dir / "alice/new").size(), 1u);
    EXPECT_TRUE(names_in(dir / "alice/tmp").empty());
}

TEST(StoreFaults, FailingDirFsyncAfterQueueRewriteKeepsTheOnlyCopyAndSyncsItLater) {
    TempDir dir;
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    ASSERT_EQ(deliver_now(store, Delivery{"id7", "", {}, {"a@x.example"}, content}), Status::ok);
    queue::Entry e;
    ASSERT_EQ(queue::read(dir / ".queue", "id7", e), Status::ok);
    e.attempts = 1;
    CommitGroup group;
    Faults faults("fsync", dir / ".queue");
    EXPECT_EQ(rewrite_now(dir / ".queue", e, group), Status::temp_failure);
    EXPECT_NE(faults.injected().find("fsync " + (dir / ".queue")), std::string::npos);
    queue::Entry after;
    ASSERT_EQ(queue::read(dir / ".queue", "id7", after), Status::ok);  // was unlinked: message lost
    EXPECT_EQ(after.attempts, 1u);  // the rename stands
    EXPECT_EQ(after.content, content);
    EXPECT_EQ(group.unsynced_dirs(), std::vector<std::string>{dir / ".queue"});
    faults.disarm();
    group.flush();  // the next commit round syncs the directory again
    EXPECT_TRUE(group.unsynced_dirs().empty());
}

TEST(StoreFaults, FailingRenameOfAQueueRewriteKeepsTheOldVersion) {
    TempDir dir;
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    ASSERT_EQ(deliver_now(store, Delivery{"id8", "", {}, {"a@x.example"}, content}), Status::ok);
    queue::Entry e;
    ASSERT_EQ(queue::read(dir / ".queue", "id8", e), Status::ok);
    e.attempts = 3;
    CommitGroup group;
    Faults faults("rename", dir / ".queue/id8");
    EXPECT_EQ(rewrite_now(dir / ".queue", e, group), Status::temp_failure);
    EXPECT_NE(faults.injected().find("rename"), std::string::npos);
    queue::Entry after;
    ASSERT_EQ(queue::read(dir / ".queue", "id8", after), Status::ok);
    EXPECT_EQ(after.attempts, 0u);
    EXPECT_TRUE(names_in(dir / ".queue/tmp").empty());
}

TEST(StoreFaults, FailingWriteOfAQueueFileLeavesNothing) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    Faults faults("write", "*/.queue/tmp/*", "ENOSPC");
    EXPECT_EQ(deliver_now(store, Delivery{"q2", "x@y", {"alice"}, {"r@remote.example"}, content}),
              Status::no_space);
    EXPECT_NE(faults.injected().find("write"), std::string::npos);
    EXPECT_TRUE(queue::list(dir / ".queue").empty());
    EXPECT_TRUE(names_in(dir / ".queue/tmp").empty());
    EXPECT_TRUE(names_in(dir / "alice/new").empty());
}

TEST(StoreFaults, FailingMboxFdatasyncCutsTheMboxBack) {
    TempDir dir;
    write_text(dir / "carol.mbox", "");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    Faults faults("fdatasync", "*/carol.mbox");
    EXPECT_EQ(deliver_now(store, Delivery{"q3", "x@y", {"carol"}, {}, content}), Status::temp_failure);
    EXPECT_NE(faults.injected().find("fdatasync"), std::string::npos);
    faults.disarm();
    EXPECT_EQ(fs::file_size(dir / "carol.mbox"), 0u);
    EXPECT_FALSE(fs::exists(dir / "carol.mbox.lock"));
}

TEST(StoreFaults, FailingDirFsyncAfterAnMboxRewriteKeepsTheNewContents) {
    TempDir dir;
    write_text(dir / "carol.mbox", "From a Mon Jan  1 00:00:00 2024\nold\n\n");
    mbox::LockedMbox box;
    ASSERT_EQ(box.lock(dir / "carol.mbox"), Status::ok);
    Faults faults("fsync", dir.path());
    EXPECT_EQ(mbox::replace_contents(box, "new\n"), Status::temp_failure);
    EXPECT_NE(faults.injected().find("fsync " + dir.path()), std::string::npos);
    faults.disarm();
    EXPECT_EQ(read_text(dir / "carol.mbox"), "new\n");  // renamed over the old: never unlinked
    EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"carol.mbox", "carol.mbox.lock"}));
}
