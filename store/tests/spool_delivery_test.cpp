// Messages spooled while DATA arrived: delivered from the spool file into
// Maildir, mbox and the relay queue byte for byte as a message held whole,
// disk full while spooling or copying, spools left by a crash.
#include <gtest/gtest.h>

#include <csignal>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/mail_store.hpp"
#include "store/mbox.hpp"
#include "store/queue.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

class Tmpfs {
public:
    Tmpfs(const std::string& at, const std::string& size) : at_(at) {
        fs::create_directories(at_);
        mounted_ = ::mount("tmpfs", at_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    }
    ~Tmpfs() {
        if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
    }
    bool mounted() const { return mounted_; }

private:
    std::string at_;
    bool mounted_ = false;
};

// ~`octets` of CRLF lines with everything mbox quoting and piece boundaries
// can trip on: From_ lines, '>' runs, lone CRs, empty lines.
std::string tricky_body(std::size_t octets) {
    std::string body;
    for (std::size_t i = 0; body.size() < octets; ++i) {
        switch (i % 6) {
            case 0: body += "From line " + std::to_string(i); break;
            case 1: body += std::string(i % 5, '>') + "From quoted"; break;
            case 2: body += "lone\rcr"; break;
            case 3: break;
            default: body += std::string(i % 300, static_cast<char>('a' + i % 26)); break;
        }
        body += "\r\n";
    }
    return body;
}

// Spools `text` in pieces of assorted sizes; returns the spool id.
std::uint64_t spool(MailStore& store, std::string_view text) {
    std::uint64_t id = 0;
    for (std::size_t at = 0, n = 1; at < text.size(); at += n, n = n * 7 % 300001 + 1)
        EXPECT_EQ(store.spool_append(id, text.substr(at, n)), Status::ok);
    return id;
}

std::vector<std::string> spool_files(const std::string& queue_dir) {
    std::vector<std::string> out;
    for (const std::string& name : names_in(queue_dir + "/tmp"))
        if (name.starts_with(".spool.")) out.push_back(name);
    return out;
}

// The mbox text after its From_ line.
std::string after_from_line(const std::string& file) { return file.substr(file.find('\n') + 1); }

}  // namespace

TEST(SpoolDelivery, FromTheSpoolIntoMaildirMboxAndQueueByteForByte) {
    TempDir dir;
    make_maildir(dir / "alice");
    write_text(dir / "carol.mbox", "");
    write_text(dir / "dave.mbox", "");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    const std::string head = "Received: from x\r\n\tby h; Tue, 14 Nov 2023 22:13:20 +0000\r\n";
    const std::string body = "Subject: big\r\n\r\n" + tricky_body(3 << 20);
    const std::string tail = ">From the tail\r\nlast\r\n";
    const std::string whole = head + body + tail;

    Delivery d{"Q1", "a@b", {"alice", "carol"}, {"r@remote.example"}, tail, head, spool(store, body)};
    ASSERT_EQ(deliver_now(store, d), Status::ok);
    EXPECT_EQ(store.open_spools(), 0u);
    EXPECT_TRUE(spool_files(dir / ".queue").empty());

    auto names = names_in(dir / "alice/new");
    ASSERT_EQ(names.size(), 1u);
    EXPECT_TRUE(names[0].ends_with(",S=" + std::to_string(whole.size()))) << names[0];
    EXPECT_TRUE(read_text(dir / "alice/new/" + names[0]) == whole);

    queue::Entry entry;
    ASSERT_EQ(queue::read(dir / ".queue", "Q1", entry), Status::ok);
    EXPECT_TRUE(entry.content == whole);

    // The mbox copy is what the same message held whole gives.
    ASSERT_EQ(deliver_now(store, Delivery{"Q2", "a@b", {"dave"}, {}, whole}), Status::ok);
    std::string carol = read_text(dir / "carol.mbox"), dave = read_text(dir / "dave.mbox");
    EXPECT_TRUE(after_from_line(carol) == after_from_line(dave));
    auto messages = mbox::parse(carol);
    ASSERT_EQ(messages.size(), 1u);
    std::string_view text(carol);
    EXPECT_TRUE(mbox::message_text(text.substr(messages[0].text_start,
                                               messages[0].text_end - messages[0].text_start)) ==
                whole);
}

TEST(SpoolDelivery, SpoolWithoutHeadOrTailAndEmptySpool) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    const std::string body = tricky_body(600000);
    ASSERT_EQ(deliver_now(store, Delivery{"q", "", {"alice"}, {}, "", "", spool(store, body)}),
              Status::ok);
    std::uint64_t empty = 0;
    ASSERT_EQ(store.spool_append(empty, ""), Status::ok);
    ASSERT_EQ(deliver_now(store, Delivery{"q2", "", {"alice"}, {}, "x\r\n", "", empty}), Status::ok);
    std::vector<std::string> texts;
    for (const auto& name : names_in(dir / "alice/new")) texts.push_back(read_text(dir / "alice/new/" + name));
    std::sort(texts.begin(), texts.end(), [](auto& a, auto& b) { return a.size() < b.size(); });
    ASSERT_EQ(texts.size(), 2u);
    EXPECT_EQ(texts[0], "x\r\n");
    EXPECT_TRUE(texts[1] == body);
}

TEST(SpoolDelivery, DroppedSpoolIsGoneAndCannotBeDelivered) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    std::uint64_t id = spool(store, "Subject: x\r\n\r\nbody\r\n");
    EXPECT_EQ(spool_files(dir / ".queue").size(), 1u);
    store.drop_spool(id);
    store.drop_spool(id);  // twice is harmless
    EXPECT_TRUE(spool_files(dir / ".queue").empty());
    EXPECT_EQ(deliver_now(store, Delivery{"q", "", {"alice"}, {}, "", "", id}), Status::temp_failure);
    EXPECT_TRUE(names_in(dir / "alice/new").empty());
}

TEST(SpoolDelivery, FailedDeliveryUsesTheSpoolUpAndLeavesNoCopy) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    std::uint64_t id = spool(store, tricky_body(400000));
    EXPECT_EQ(deliver_now(store, Delivery{"q", "", {"alice", "gone"}, {}, "", "", id}),
              Status::temp_failure);
    EXPECT_TRUE(names_in(dir / "alice/new").empty());
    EXPECT_TRUE(names_in(dir / "alice/tmp").empty());
    EXPECT_EQ(store.open_spools(), 0u);
    EXPECT_TRUE(spool_files(dir / ".queue").empty());
}

// The spool on one file system, the mailbox on another: copied by reading.
TEST(SpoolDelivery, SpoolOnAnotherFileSystemThanTheMailbox) {
    TempDir dir;
    Tmpfs queue(dir / "queue", "64m");
    if (!queue.mounted()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), dir / "queue", "", "h"});
    const std::string body = tricky_body(2 << 20);
    ASSERT_EQ(deliver_now(store, Delivery{"q", "", {"alice"}, {}, "t\r\n", "h\r\n", spool(store, body)}),
              Status::ok);
    auto names = names_in(dir / "alice/new");
    ASSERT_EQ(names.size(), 1u);
    EXPECT_TRUE(read_text(dir / "alice/new/" + names[0]) == "h\r\n" + body + "t\r\n");
}

TEST(SpoolDelivery, DiskFullWhileSpoolingIsNoSpaceAndTheDropFreesIt) {
    TempDir dir;
    Tmpfs queue(dir / "queue", "256k");
    if (!queue.mounted()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), dir / "queue", "", "h"});
    std::uint64_t id = 0;
    Status s = Status::ok;
    std::string chunk(100 * 1024, 'x');
    for (int i = 0; i < 10 && s == Status::ok; ++i) s = store.spool_append(id, chunk);
    EXPECT_EQ(s, Status::no_space);
    EXPECT_NE(id, 0u);
    store.drop_spool(id);
    EXPECT_TRUE(names_in(dir / "queue/tmp").empty());
    // The space is back.
    std::uint64_t again = 0;
    EXPECT_EQ(store.spool_append(again, chunk), Status::ok);
    store.drop_spool(again);
}

// --max-spool: all sessions' spools together stay within the budget; the
// append that would pass it is no_space (452 after the final dot), and the
// budget is back once spools are dropped or delivered.
TEST(SpoolDelivery, SpoolBudgetIsSharedByAllSpoolsAndFreedByDropAndDelivery) {
    TempDir dir;
    make_maildir(dir / "alice");
    StoreConfig config{dir.path(), "", "", "h"};
    config.max_spool_bytes = 250 * 1024;
    MailStore store(config);
    std::string chunk(100 * 1024, 'x');
    std::uint64_t a = 0, b = 0, c = 0;
    ASSERT_EQ(store.spool_append(a, chunk), Status::ok);
    ASSERT_EQ(store.spool_append(b, chunk), Status::ok);
    EXPECT_EQ(store.spool_append(c, chunk), Status::no_space);  // 300 KiB > 250 KiB
    EXPECT_EQ(c, 0u);                                            // no spool was made for it
    EXPECT_EQ(store.spool_append(a, chunk), Status::no_space);   // nor may an open one grow
    EXPECT_EQ(store.spool_append(a, std::string(50 * 1024, 'y')), Status::ok);  // exactly the budget
    EXPECT_EQ(spool_files(dir / ".queue").size(), 2u);
    store.drop_spool(b);
    ASSERT_EQ(store.spool_append(c, chunk), Status::ok);
    ASSERT_EQ(deliver_now(store, Delivery{"q", "", {"alice"}, {}, "\r\n", "", a}), Status::ok);
    std::uint64_t d = 0;
    EXPECT_EQ(store.spool_append(d, chunk), Status::ok);  // a's 150 KiB are free again
    store.drop_spool(c);
    store.drop_spool(d);
    EXPECT_EQ(store.open_spools(), 0u);
}

TEST(SpoolDelivery, DiskFullWhileCopyingFromTheSpoolIsNoSpaceAndLeavesNothing) {
    TempDir dir;
    Tmpfs mail(dir / "mail", "256k");
    if (!mail.mounted()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
    make_maildir(dir / "mail/alice");
    write_text(dir / "mail/carol.mbox", "");
    MailStore store(StoreConfig{dir / "mail", dir / "queue", "", "h"});
    for (const char* user : {"alice", "carol"}) {
        std::uint64_t id = spool(store, tricky_body(400 * 1024));
        EXPECT_EQ(deliver_now(store, Delivery{"q", "", {user}, {}, "", "", id}), Status::no_space);
        EXPECT_EQ(store.open_spools(), 0u);
    }
    EXPECT_TRUE(names_in(dir / "mail/alice/new").empty());
    EXPECT_TRUE(names_in(dir / "mail/alice/tmp").empty());
    EXPECT_EQ(fs::file_size(dir / "mail/carol.mbox"), 0u);
    EXPECT_TRUE(spool_files(dir / "queue").empty());
}

// kill -9 in the middle of a DATA: the next start removes the spool (no 250
// was given for it) and leaves alone what is not a spool of a dead process.
TEST(SpoolDelivery, SpoolsLeftByACrashAreRemovedAtStart) {
    TempDir dir;
    make_maildir(dir / "alice");
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        MailStore store(StoreConfig{dir.path(), "", "", "h"});
        std::uint64_t id = 0;
        store.spool_append(id, "Subject: cut\r\n\r\nhalf a message\r\n");
        ::raise(SIGKILL);
    }
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFSIGNALED(wstatus));
    ASSERT_EQ(spool_files(dir / ".queue").size(), 1u);
    std::string ours = ".spool." + std::to_string(::getpid()) + ".77";   // an earlier run with our pid
    std::string live = ".spool." + std::to_string(::getppid()) + ".5";  // a live process's
    write_text(dir / ".queue/tmp/" + ours, "x");
    write_text(dir / ".queue/tmp/" + live, "x");
    write_text(dir / ".queue/tmp/Q1.1700000000.000001.1.1", "a staged queue file");

    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    EXPECT_EQ(spool_files(dir / ".queue"), std::vector<std::string>{live});
    EXPECT_TRUE(fs::exists(dir / ".queue/tmp/Q1.1700000000.000001.1.1"));
}
