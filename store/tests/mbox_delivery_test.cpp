#include <gtest/gtest.h>

#include <chrono>
#include <fcntl.h>
#include <future>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include "store/mail_store.hpp"
#include "store/mbox.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

const std::string tricky =
    "Subject: quoting\r\n\r\nFrom the start\r\n>From once\r\n>>From twice\r\n"
    "From\r\nFromage\r\n From indented\r\n\r\n";

}  // namespace

TEST(MboxDelivery, AppendsFromLineQuotedLfMessageAndBlankLine_Mboxrd) {
    TempDir dir;
    write_text(dir / "carol.mbox", "");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    ASSERT_EQ(deliver_now(store, Delivery{"q", "bob@example.org", {"carol"}, {}, tricky}),
              Status::ok);
    std::string file = read_text(dir / "carol.mbox");
    // "From <sender> " + asctime: "Www Mmm dd hh:mm:ss yyyy\n" (24 characters).
    auto eol = file.find('\n');
    std::string prefix = "From bob@example.org ";
    ASSERT_TRUE(file.starts_with(prefix));
    std::string date = file.substr(prefix.size(), eol - prefix.size());
    EXPECT_EQ(date.size(), 24u) << date;
    EXPECT_EQ(date.substr(13, 1) + date.substr(16, 1), "::") << date;
    EXPECT_EQ(file.substr(eol + 1),
              "Subject: quoting\n\n>From the start\n>>From once\n>>>From twice\n"
              "From\nFromage\n From indented\n\n\n");
    EXPECT_FALSE(fs::exists(dir / "carol.mbox.lock"));
}

TEST(MboxDelivery, NullSenderIsMailerDaemon) {
    TempDir dir;
    write_text(dir / "carol.mbox", "");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    ASSERT_EQ(deliver_now(store, Delivery{"q", "", {"carol"}, {}, "S: x\r\n\r\nb\r\n"}), Status::ok);
    EXPECT_TRUE(read_text(dir / "carol.mbox").starts_with("From MAILER-DAEMON "));
}

TEST(MboxDelivery, QuotingRoundTripsByteExactThroughReadMessage) {
    TempDir dir;
    write_text(dir / "carol.mbox", "");
    write_text(dir / "users", "carol:pw\n");
    MailStore store(StoreConfig{dir.path(), "", dir / "users", "h"});
    const std::string second = "Subject: 2\r\n\r\nbody\r\n";
    ASSERT_EQ(deliver_now(store, Delivery{"1", "a@b", {"carol"}, {}, tricky}), Status::ok);
    ASSERT_EQ(deliver_now(store, Delivery{"2", "a@b", {"carol"}, {}, second}), Status::ok);
    std::uint32_t handle = 0;
    std::vector<MaildropEntry> entries;
    ASSERT_EQ(store.open_maildrop("carol", "pw", "", "", handle, entries), Status::ok);
    ASSERT_EQ(entries.size(), 2u);
    std::string text;
    ASSERT_EQ(read_whole(store, handle, 0, -1, text), Status::ok);
    EXPECT_EQ(text, tricky);
    EXPECT_EQ(entries[0].size, tricky.size());
    ASSERT_EQ(read_whole(store, handle, 1, -1, text), Status::ok);
    EXPECT_EQ(text, second);
    EXPECT_EQ(entries[1].size, second.size());
    EXPECT_EQ(store.close_maildrop(handle, {}, false), Status::ok);
}

TEST(MboxDelivery, FileWithoutFinalNewlineGetsSeparatorBeforeNextMessage) {
    TempDir dir;
    write_text(dir / "carol.mbox", "From x Mon Jan  1 00:00:00 2024\nSubject: old\n\nno newline");
    write_text(dir / "users", "carol:pw\n");
    MailStore store(StoreConfig{dir.path(), "", dir / "users", "h"});
    ASSERT_EQ(deliver_now(store, Delivery{"1", "a@b", {"carol"}, {}, "S: new\r\n\r\nb\r\n"}),
              Status::ok);
    std::uint32_t handle = 0;
    std::vector<MaildropEntry> entries;
    ASSERT_EQ(store.open_maildrop("carol", "pw", "", "", handle, entries), Status::ok);
    ASSERT_EQ(entries.size(), 2u);
    std::string text;
    ASSERT_EQ(read_whole(store, handle, 0, -1, text), Status::ok);
    EXPECT_EQ(text, "Subject: old\r\n\r\nno newline\r\n");
    ASSERT_EQ(read_whole(store, handle, 1, -1, text), Status::ok);
    EXPECT_EQ(text, "S: new\r\n\r\nb\r\n");
    store.close_maildrop(handle, {}, false);
}

TEST(MboxDelivery, StaleDotlockIsRemoved) {
    TempDir dir;
    write_text(dir / "carol.mbox", "");
    write_text(dir / "carol.mbox.lock", "");
    utimbuf old{1000, 1000};
    ::utime((dir / "carol.mbox.lock").c_str(), &old);
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    EXPECT_EQ(deliver_now(store, Delivery{"q", "a@b", {"carol"}, {}, "S: x\r\n\r\nb\r\n"}),
              Status::ok);
    EXPECT_FALSE(fs::exists(dir / "carol.mbox.lock"));
}

// Another program holding a POSIX record lock on the whole mbox, in a
// child process driven through pipes: it reports whether its F_SETLK
// succeeded, holds the lock until told to let go, and says "released"
// just before it does. No timing decides the outcome.
class LockHolder {
public:
    explicit LockHolder(const std::string& path) {
        if (::pipe(to_parent_) != 0 || ::pipe(to_child_) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) hold(path);
        ::close(to_parent_[1]);
        ::close(to_child_[0]);
    }
    ~LockHolder() {
        ::close(to_child_[1]);  // EOF: a child still waiting lets go and exits
        ::close(to_parent_[0]);
        if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
    }
    bool started() const { return pid_ > 0; }
    // The child's first report: '1' once its F_SETLK succeeded, '0' if not.
    char lock_result() { return next_byte(); }
    void release() { (void)!::write(to_child_[1], "r", 1); }
    // True when the child's "released" byte is already waiting.
    bool said_released() {
        pollfd p{to_parent_[0], POLLIN, 0};
        return ::poll(&p, 1, 0) == 1 && next_byte() == 'u';
    }
    int exit_status() {
        int status = -1;
        if (pid_ > 0 && ::waitpid(pid_, &status, 0) == pid_) pid_ = -1;
        return status;
    }

private:
    [[noreturn]] void hold(const std::string& path) {
        ::close(to_parent_[0]);
        ::close(to_child_[1]);
        int fd = ::open(path.c_str(), O_RDWR);
        struct flock whole {};
        whole.l_type = F_WRLCK;
        whole.l_whence = SEEK_SET;
        bool locked = fd >= 0 && ::fcntl(fd, F_SETLK, &whole) == 0;
        (void)!::write(to_parent_[1], locked ? "1" : "0", 1);
        char byte;
        (void)!::read(to_child_[0], &byte, 1);    // "release" or the parent's EOF
        (void)!::write(to_parent_[1], "u", 1);    // said before the lock goes
        ::close(fd);                              // closing releases the record lock
        ::_exit(locked ? 0 : 1);
    }
    char next_byte() {
        char byte = 0;
        return ::read(to_parent_[0], &byte, 1) == 1 ? byte : 0;
    }

    int to_parent_[2] = {-1, -1};
    int to_child_[2] = {-1, -1};
    pid_t pid_ = -1;
};

TEST(MboxDelivery, WaitsForAnotherProgramsFcntlLock) {
    TempDir dir;
    write_text(dir / "carol.mbox", "");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    LockHolder reader(dir / "carol.mbox");  // a classic mail reader
    ASSERT_TRUE(reader.started());
    ASSERT_EQ(reader.lock_result(), '1') << "the child could not take the fcntl lock";

    auto delivery = std::async(std::launch::async, [&] {
        return deliver_now(store, Delivery{"q", "a@b", {"carol"}, {}, "S: x\r\n\r\nb\r\n"});
    });
    // While the lock is held the delivery cannot end. A slow machine only
    // makes this check weaker (the delivery may not have started yet),
    // never wrong.
    EXPECT_EQ(delivery.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
    EXPECT_EQ(read_text(dir / "carol.mbox"), "");

    reader.release();
    ASSERT_EQ(delivery.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    EXPECT_EQ(delivery.get(), Status::ok);
    // The child wrote "released" before it let go, so a delivery that
    // waited for the lock finds that byte already there.
    EXPECT_TRUE(reader.said_released());
    int status = reader.exit_status();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    EXPECT_TRUE(read_text(dir / "carol.mbox").starts_with("From a@b "));
}

TEST(MboxParse, FromLinesSplitMessagesAndSeparatorIsNotText) {
    std::string file = "junk\nFrom a Mon Jan  1 00:00:00 2024\nA\n\nFrom b Mon Jan  1 00:00:00 2024\nB\n\n";
    auto messages = mbox::parse(file);
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0].start, 5u);
    EXPECT_EQ(file.substr(messages[0].text_start, messages[0].text_end - messages[0].text_start), "A\n");
    EXPECT_EQ(file.substr(messages[1].text_start, messages[1].text_end - messages[1].text_start), "B\n");
    EXPECT_EQ(messages[1].end, file.size());
}
