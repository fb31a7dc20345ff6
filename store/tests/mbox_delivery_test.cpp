#include <gtest/gtest.h>

#include <chrono>
#include <fcntl.h>
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

TEST(MboxDelivery, WaitsForAnotherProgramsFcntlLock) {
    TempDir dir;
    write_text(dir / "carol.mbox", "");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // A classic mail reader: a POSIX record lock on the whole file.
        int fd = ::open((dir / "carol.mbox").c_str(), O_RDWR);
        struct flock whole {};
        whole.l_type = F_WRLCK;
        whole.l_whence = SEEK_SET;
        ::fcntl(fd, F_SETLK, &whole);
        (void)!::write(ready[1], "x", 1);
        ::usleep(300 * 1000);
        ::_exit(0);
    }
    char byte;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(deliver_now(store, Delivery{"q", "a@b", {"carol"}, {}, "S: x\r\n\r\nb\r\n"}),
              Status::ok);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
    ::waitpid(child, nullptr, 0);
    ::close(ready[0]);
    ::close(ready[1]);
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
