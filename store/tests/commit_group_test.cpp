#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include "store/commit_group.hpp"
#include "store/file_io.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

int staged(const std::string& path, const std::string& text) {
    int fd = -1;
    EXPECT_EQ(create_and_write(path, text, fd), 0);
    return fd;
}

}  // namespace

TEST(StatusFromErrno, DiskFullAndQuotaAreNoSpace) {
    EXPECT_EQ(status_from_errno(ENOSPC), Status::no_space);
    EXPECT_EQ(status_from_errno(EDQUOT), Status::no_space);
    EXPECT_EQ(status_from_errno(EIO), Status::temp_failure);
}

TEST(CommitGroup, FlushSyncsRenamesAndSyncsEachDirectoryOnce) {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    fs::create_directories(dir / "new");
    CommitGroup group;
    Status a = Status::ok, b = Status::ok;
    group.add_file(staged(dir / "tmp/a", "A"), dir / "tmp/a", dir / "new/a", &a);
    group.add_file(staged(dir / "tmp/b", "B"), dir / "tmp/b", dir / "new/b", &b);
    group.add_dir_sync(dir / "new", &a);
    group.add_dir_sync(dir / "new", &b);
    group.flush();
    EXPECT_EQ(a, Status::ok);
    EXPECT_EQ(b, Status::ok);
    EXPECT_EQ(names_in(dir / "new"), (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(names_in(dir / "tmp").empty());
    EXPECT_EQ(group.files_synced(), 2u);
    EXPECT_EQ(group.dirs_synced(), 1u);
    EXPECT_TRUE(group.empty());
}

TEST(CommitGroup, JobAlreadyFailedGetsNothingRenamed) {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    fs::create_directories(dir / "new");
    CommitGroup group;
    Status s = Status::ok;
    group.add_file(staged(dir / "tmp/a", "A"), dir / "tmp/a", dir / "new/a", &s);
    s = Status::no_space;  // a later step of the same job failed in execute()
    group.flush();
    EXPECT_EQ(s, Status::no_space);
    EXPECT_TRUE(names_in(dir / "new").empty());
    EXPECT_TRUE(names_in(dir / "tmp").empty());
}

TEST(CommitGroup, FailedRenameUndoesTheJobsOtherRenames_AllOrNothing) {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    fs::create_directories(dir / "new");
    CommitGroup group;
    Status s = Status::ok, other = Status::ok;
    group.add_file(staged(dir / "tmp/a", "A"), dir / "tmp/a", dir / "new/a", &s);
    group.add_file(staged(dir / "tmp/b", "B"), dir / "tmp/b", dir / "missing/b", &s);
    group.add_file(staged(dir / "tmp/c", "C"), dir / "tmp/c", dir / "new/c", &other);
    group.flush();
    EXPECT_NE(s, Status::ok);
    EXPECT_EQ(other, Status::ok);  // another job of the batch is unaffected
    EXPECT_EQ(names_in(dir / "new"), (std::vector<std::string>{"c"}));
    EXPECT_TRUE(names_in(dir / "tmp").empty());
}

TEST(CommitGroup, FailedRenameNeverUndoesAReplacement_ItIsTheOnlyCopy) {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    fs::create_directories(dir / "q");
    write_text(dir / "q/m", "old");
    CommitGroup group;
    Status s = Status::ok;
    group.add_file(staged(dir / "tmp/m", "new"), dir / "tmp/m", dir / "q/m", &s, Rename::replaces);
    group.add_file(staged(dir / "tmp/b", "B"), dir / "tmp/b", dir / "missing/b", &s);
    group.flush();
    EXPECT_NE(s, Status::ok);
    EXPECT_EQ(read_text(dir / "q/m"), "new");  // the old version is gone: never unlink this one
    EXPECT_TRUE(names_in(dir / "tmp").empty());
}

TEST(CommitGroup, FailSinceFailsOnlyTheStepsOfTheJobThatThrew) {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    fs::create_directories(dir / "new");
    CommitGroup group;
    Status before = Status::ok, threw = Status::ok;
    group.add_file(staged(dir / "tmp/a", "A"), dir / "tmp/a", dir / "new/a", &before);
    group.add_dir_sync(dir / "new", &before);
    CommitGroup::Mark mark = group.mark();
    group.add_file(staged(dir / "tmp/b", "B"), dir / "tmp/b", dir / "new/b", &threw);
    group.add_dir_sync(dir / "new", &threw);
    group.fail_since(mark);
    group.flush();
    EXPECT_EQ(before, Status::ok);
    EXPECT_EQ(threw, Status::temp_failure);
    EXPECT_EQ(names_in(dir / "new"), (std::vector<std::string>{"a"}));
    EXPECT_TRUE(names_in(dir / "tmp").empty());
}
