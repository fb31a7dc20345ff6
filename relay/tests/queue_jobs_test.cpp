// The relay client's disk work, each job run as the I/O worker runs it
// (execute, the commit round, complete) on a scratch queue: scanning,
// reading what MAIL FROM must say, rewriting the per-recipient state,
// bouncing (RFC 3464) and removing.
#include "relay/queue_jobs.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <utime.h>

#include "store/tests/test_support.hpp"

using namespace bm;
using bm::store::test::TempDir;
namespace q = bm::store::queue;

namespace {

void run(store::Job& job) {
    store::CommitGroup group;
    job.execute(group);
    group.flush();
    job.complete();
}

class RelayJobsTest : public ::testing::Test {
protected:
    RelayJobsTest() {
        store::test::make_maildir(dir_ / "mail/alice");
        queue_dir_ = dir_ / "queue";
        store_ = std::make_unique<store::MailStore>(
            store::StoreConfig{dir_ / "mail", queue_dir_, "", "relay.test"});
    }

    // Queues a message as the SMTP receiver does; returns its file name.
    std::string queue(const std::string& sender, std::vector<std::string> rcpts,
                      const std::string& text = "Subject: queued\r\nX-Tag: one\r\n\r\nbody\r\n") {
        auto before = q::list(queue_dir_);
        store::Delivery d{"Q" + std::to_string(++queued_), sender, {}, std::move(rcpts), text};
        EXPECT_EQ(store::test::deliver_now(*store_, d), store::Status::ok);
        for (const std::string& name : q::list(queue_dir_))
            if (std::find(before.begin(), before.end(), name) == before.end()) return name;
        ADD_FAILURE() << "no new queue file";
        return {};
    }

    QueuedMessage scanned(const std::string& name) {
        std::vector<QueuedMessage> found;
        ScanQueueJob scan(queue_dir_, {}, 0, [&](std::vector<QueuedMessage> f) { found = std::move(f); });
        run(scan);
        for (QueuedMessage& m : found)
            if (m.name == name) return m;
        ADD_FAILURE() << name << " not found by the scan";
        return {};
    }

    q::Entry read(const std::string& name) {
        q::Entry e;
        EXPECT_EQ(q::read(queue_dir_, name, e), store::Status::ok);
        return e;
    }

    std::vector<std::string> alices_mail() {
        std::vector<std::string> out;
        for (const std::string& name : store::test::names_in(dir_ / "mail/alice/new"))
            out.push_back(store::test::read_text(dir_ / ("mail/alice/new/" + name)));
        return out;
    }

    TempDir dir_;
    std::string queue_dir_;
    std::unique_ptr<store::MailStore> store_;
    int queued_ = 0;
};

}  // namespace

TEST_F(RelayJobsTest, ScanReadsTheEnvelopeOfEveryQueueFileNotYetKnown) {
    std::string a = queue("alice@relay.test", {"x@example.org", "y@example.net"});
    std::string b = queue("", {"z@example.org"});
    std::vector<QueuedMessage> found;
    ScanQueueJob scan(queue_dir_, {a}, 0, [&](std::vector<QueuedMessage> f) { found = std::move(f); });
    run(scan);
    ASSERT_EQ(found.size(), 1u);  // `a` is known already
    EXPECT_EQ(found[0].name, b);
    EXPECT_EQ(found[0].id, "Q2");
    EXPECT_EQ(found[0].sender, "");
    ASSERT_EQ(found[0].recipients.size(), 1u);
    EXPECT_EQ(found[0].recipients[0].address, "z@example.org");
    EXPECT_EQ(found[0].recipients[0].state, RcptState::pending);
    QueuedMessage m = scanned(a);
    EXPECT_EQ(m.recipients.size(), 2u);
    EXPECT_EQ(m.attempts, 0u);
}

TEST_F(RelayJobsTest, FirstScanRemovesOnlyTemporaryFilesOlderThanTheStart) {
    queue("alice@relay.test", {"x@example.org"});
    std::string stale = queue_dir_ + "/tmp/left-by-a-crash";
    std::string fresh = queue_dir_ + "/tmp/being-written";
    store::test::write_text(stale, "half");
    store::test::write_text(fresh, "half");
    utimbuf old{1000, 1000};
    ASSERT_EQ(::utime(stale.c_str(), &old), 0);
    std::size_t found = 0;
    ScanQueueJob scan(queue_dir_, {}, std::time(nullptr) - 60,
                      [&](std::vector<QueuedMessage> f) { found = f.size(); });
    run(scan);
    EXPECT_EQ(found, 1u);
    struct stat st {};
    EXPECT_NE(::stat(stale.c_str(), &st), 0);
    EXPECT_EQ(::stat(fresh.c_str(), &st), 0);
}

TEST_F(RelayJobsTest, ScanSkipsAMalformedQueueFile) {
    std::string good = queue("alice@relay.test", {"x@example.org"});
    store::test::write_text(queue_dir_ + "/garbage", "not a queue file\n");
    std::vector<QueuedMessage> found;
    ScanQueueJob scan(queue_dir_, {}, 0, [&](std::vector<QueuedMessage> f) { found = std::move(f); });
    run(scan);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].name, good);
}

TEST_F(RelayJobsTest, Rfc1870_Rfc6152_TextFactsGiveTheSizeAndWhetherItIsEightBit) {
    std::string plain = queue("alice@relay.test", {"x@example.org"}, "Subject: a\r\n\r\nascii\r\n");
    std::string eight = queue("alice@relay.test", {"x@example.org"}, "Subject: b\r\n\r\n\xe9t\xe9\r\n");
    for (auto [name, eight_bit] : {std::pair{plain, false}, std::pair{eight, true}}) {
        store::Status status = store::Status::temp_failure;
        store::queue::TextFacts facts;
        TextFactsJob job(queue_dir_, name, [&](store::Status s, store::queue::TextFacts f) {
            status = s;
            facts = f;
        });
        run(job);
        ASSERT_EQ(status, store::Status::ok) << name;
        EXPECT_EQ(facts.size, read(name).content.size()) << name;
        EXPECT_EQ(facts.eight_bit, eight_bit) << name;
    }
}

TEST_F(RelayJobsTest, TextFactsOfAVanishedFileAreNotOk) {
    store::Status status = store::Status::ok;
    TextFactsJob job(queue_dir_, "no-such-file", [&](store::Status s, store::queue::TextFacts) { status = s; });
    run(job);
    EXPECT_NE(status, store::Status::ok);
}

TEST_F(RelayJobsTest, RewriteRecordsEachRecipientsStateAndKeepsTheText) {
    std::string name = queue("alice@relay.test", {"x@example.org", "y@example.net"});
    std::string text_before = read(name).content;
    QueuedMessage m = scanned(name);
    m.attempts = 2;
    m.next_try = 1'900'000'000;
    m.recipients[0].state = RcptState::sent;
    m.recipients[0].diagnostic = "250 2.0.0 queued";
    m.recipients[1].diagnostic = "451 4.3.0 try later";
    store::Status status = store::Status::temp_failure;
    RewriteQueueJob job(queue_dir_, m, [&](store::Status s) { status = s; });
    run(job);
    ASSERT_EQ(status, store::Status::ok);
    q::Entry e = read(name);
    EXPECT_EQ(e.attempts, 2u);
    EXPECT_EQ(e.next_try, 1'900'000'000);
    ASSERT_EQ(e.recipients.size(), 2u);
    EXPECT_EQ(e.recipients[0].state, q::RecipientState::sent);
    EXPECT_EQ(e.recipients[0].diagnostic, "250 2.0.0 queued");
    EXPECT_EQ(e.recipients[1].state, q::RecipientState::pending);
    EXPECT_EQ(e.recipients[1].diagnostic, "451 4.3.0 try later");
    EXPECT_EQ(e.content, text_before);
    // And back: the scan reads what was written.
    QueuedMessage again = scanned(name);
    EXPECT_EQ(again.recipients[0].state, RcptState::sent);
    EXPECT_EQ(again.attempts, 2u);
}

TEST_F(RelayJobsTest, RewriteOfAVanishedFileFailsAndCreatesNothing) {
    QueuedMessage m;
    m.name = "gone";
    m.recipients = {{"x@example.org", RcptState::pending, {}}};
    store::Status status = store::Status::ok;
    RewriteQueueJob job(queue_dir_, m, [&](store::Status s) { status = s; });
    run(job);
    EXPECT_EQ(status, store::Status::not_found);
    EXPECT_TRUE(q::list(queue_dir_).empty());
}

TEST_F(RelayJobsTest, Rfc3464_BounceDeliversAReportOfTheFailedRecipientsAndRecordsTheFinalState) {
    std::string name = queue("alice@relay.test", {"good@example.org", "bad@example.org"});
    QueuedMessage m = scanned(name);
    m.recipients[0].state = RcptState::sent;
    m.recipients[1].state = RcptState::failed;
    m.recipients[1].diagnostic = "550 5.1.1 no such user";
    store::Status status = store::Status::temp_failure;
    BounceJob job(*store_, queue_dir_, m, "alice", {"relay.test", "tag.bounce.1"},
                  [&](store::Status s) { status = s; });
    run(job);
    ASSERT_EQ(status, store::Status::ok);
    auto mail = alices_mail();
    ASSERT_EQ(mail.size(), 1u);
    const std::string& dsn = mail[0];
    EXPECT_NE(dsn.find("From: Mail Delivery System <MAILER-DAEMON@relay.test>"), std::string::npos);
    EXPECT_NE(dsn.find("report-type=delivery-status"), std::string::npos);
    EXPECT_NE(dsn.find("Final-Recipient: rfc822; bad@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
                       "Diagnostic-Code: smtp; 550 5.1.1 no such user"),
              std::string::npos)
        << dsn;
    EXPECT_EQ(dsn.find("good@example.org"), std::string::npos) << dsn;
    // The original's header section, not its body.
    EXPECT_NE(dsn.find("X-Tag: one"), std::string::npos);
    EXPECT_EQ(dsn.find("\r\nbody\r\n"), std::string::npos);
    // The final state is on disk with the bounce (the file goes next).
    q::Entry e = read(name);
    EXPECT_EQ(e.recipients[1].state, q::RecipientState::failed);
    EXPECT_EQ(e.recipients[0].state, q::RecipientState::sent);
}

TEST_F(RelayJobsTest, BounceToASenderWithoutAMailboxIsNotFoundAndWritesNothing) {
    std::string name = queue("nobody@relay.test", {"bad@example.org"});
    QueuedMessage m = scanned(name);
    m.recipients[0].state = RcptState::failed;
    store::Status status = store::Status::ok;
    BounceJob job(*store_, queue_dir_, m, "nobody", {"relay.test", "tag.bounce.2"},
                  [&](store::Status s) { status = s; });
    run(job);
    EXPECT_EQ(status, store::Status::not_found);
    EXPECT_TRUE(alices_mail().empty());
    EXPECT_EQ(read(name).recipients[0].state, q::RecipientState::pending);  // untouched
}

TEST_F(RelayJobsTest, RemoveDeletesTheFileAndAGoneFileIsNotFound) {
    std::string name = queue("alice@relay.test", {"x@example.org"});
    store::Status status = store::Status::temp_failure;
    RemoveQueueJob job(queue_dir_, name, [&](store::Status s) { status = s; });
    run(job);
    EXPECT_EQ(status, store::Status::ok);
    EXPECT_TRUE(q::list(queue_dir_).empty());
    RemoveQueueJob again(queue_dir_, name, [&](store::Status s) { status = s; });
    run(again);
    EXPECT_EQ(status, store::Status::not_found);
}

TEST(RelayEnvelope, QueueEntryAndSchedulerEnvelopeRoundTrip) {
    q::Entry entry;
    entry.name = "n1";
    entry.id = "ID1";
    entry.sender = "alice@relay.test";
    entry.created = 1'700'000'000;
    entry.attempts = 3;
    entry.next_try = 1'700'000'600;
    entry.recipients = {{q::RecipientState::pending, "a@x.example", ""},
                        {q::RecipientState::sent, "b@x.example", "250 ok"},
                        {q::RecipientState::failed, "c@y.example", "550 no"}};
    QueuedMessage m = envelope_of(entry);
    EXPECT_EQ(m.name, "n1");
    EXPECT_EQ(m.id, "ID1");
    EXPECT_EQ(m.created, 1'700'000'000);
    EXPECT_EQ(m.attempts, 3u);
    ASSERT_EQ(m.recipients.size(), 3u);
    EXPECT_EQ(m.recipients[1].state, RcptState::sent);
    EXPECT_EQ(m.recipients[2].state, RcptState::failed);
    EXPECT_EQ(m.recipients[2].diagnostic, "550 no");
    m.recipients[0].state = RcptState::failed;
    m.attempts = 4;
    q::Entry back;
    apply_state(m, back);
    EXPECT_EQ(back.attempts, 4u);
    EXPECT_EQ(back.next_try, 1'700'000'600);
    ASSERT_EQ(back.recipients.size(), 3u);
    EXPECT_EQ(back.recipients[0].state, q::RecipientState::failed);
    EXPECT_EQ(back.recipients[1].diagnostic, "250 ok");
}

// Why the agent removes a queue file only once no rewrite of it is out
// (RelayAgent::when_written, docs/races.md): in one I/O batch the rewrite
// stages its new version, the removal unlinks the old one, and the batch's
// commit round then renames the new version into place — the message is
// back, with a stale state, and a later scan would deliver it again.
TEST_F(RelayJobsTest, ARewriteAndARemovalInOneBatchBringTheFileBack) {
    std::string name = queue("alice@relay.test", {"x@example.org"});
    QueuedMessage m = scanned(name);
    store::Status rewritten = store::Status::temp_failure, removed = store::Status::temp_failure;
    RewriteQueueJob rewrite(queue_dir_, m, [&](store::Status s) { rewritten = s; });
    RemoveQueueJob remove(queue_dir_, name, [&](store::Status s) { removed = s; });
    store::CommitGroup group;  // one batch, as the I/O worker runs it
    rewrite.execute(group);
    remove.execute(group);
    group.flush();
    rewrite.complete();
    remove.complete();
    EXPECT_EQ(rewritten, store::Status::ok);
    EXPECT_EQ(removed, store::Status::ok);
    EXPECT_EQ(q::list(queue_dir_), std::vector<std::string>{name});  // resurrected

    // In two batches (the removal after the rewrite completed) it stays gone.
    RewriteQueueJob rewrite2(queue_dir_, m, [&](store::Status) {});
    run(rewrite2);
    RemoveQueueJob remove2(queue_dir_, name, [&](store::Status) {});
    run(remove2);
    EXPECT_TRUE(q::list(queue_dir_).empty());
}
