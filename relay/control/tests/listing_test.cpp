// What baremail-queue list and show print, from queue files written as
// the server writes them.
#include "relay/control/listing.hpp"

#include <gtest/gtest.h>

#include "store/mail_store.hpp"
#include "store/queue_text.hpp"
#include "store/tests/test_support.hpp"

using namespace bm;
using bm::store::test::TempDir;
namespace q = bm::store::queue;

namespace {

q::Entry entry() {
    q::Entry e;
    e.id = "Q1";
    e.name = "Q1";
    e.created = 1000;
    e.sender = "alice@here.example";
    e.attempts = 2;
    e.next_try = 1600;
    e.content_size = 1234;
    e.recipients = {{q::RecipientState::pending, "bob@dead.example", "451 4.4.1 connection refused"},
                    {q::RecipientState::sent, "carol@fine.example", "250 ok"}};
    return e;
}

}  // namespace

TEST(QueueListing, TextShowsEveryFieldOfEveryRecipient) {
    std::string out = control::list_text({entry()}, 1200);
    EXPECT_NE(out.find("Q1  1234 octets  age 3m20s  from <alice@here.example>\n"), std::string::npos) << out;
    EXPECT_NE(out.find("attempts 2, next try in 6m40s (1970-01-01T00:26:40Z)"), std::string::npos) << out;
    EXPECT_NE(out.find("    pending <bob@dead.example>  (451 4.4.1 connection refused)\n"), std::string::npos) << out;
    EXPECT_NE(out.find("    sent    <carol@fine.example>  (250 ok)\n"), std::string::npos) << out;
    EXPECT_NE(out.find("-- 1 message, 1234 octets, 1 recipients pending\n"), std::string::npos) << out;
}

TEST(QueueListing, HeldMessagesAreMarkedAndHaveNoNextTry) {
    q::Entry e = entry();
    e.held = true;
    std::string out = control::list_text({e}, 1200);
    EXPECT_NE(out.find("Q1!  1234"), std::string::npos) << out;
    EXPECT_NE(out.find("next try on hold"), std::string::npos) << out;
    EXPECT_EQ(control::list_text({}, 0), "Mail queue is empty\n");
}

TEST(QueueListing, JsonHasTheSameFactsEscaped) {
    q::Entry e = entry();
    e.sender = "we\"ird\\\x01\xe9@x";
    std::string out = control::list_json({e}, 1200);
    EXPECT_NE(out.find("\"id\":\"Q1\",\"file\":\"Q1\",\"size\":1234,\"created\":1000,\"age\":200,"), std::string::npos)
        << out;
    EXPECT_NE(out.find("\"sender\":\"we\\\"ird\\\\\\u0001\\u00e9@x\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"attempts\":2,\"next_try\":1600,\"held\":false,\"warned\":false"), std::string::npos) << out;
    EXPECT_NE(out.find("{\"address\":\"bob@dead.example\",\"state\":\"pending\","
                       "\"last_error\":\"451 4.4.1 connection refused\"}"),
              std::string::npos)
        << out;
    EXPECT_EQ(control::list_json({}, 0), "{\"messages\":[]}\n");
}

TEST(QueueListing, SpansReadAsDaysHoursMinutesSeconds) {
    EXPECT_EQ(control::span_text(0), "0s");
    EXPECT_EQ(control::span_text(61), "1m1s");
    EXPECT_EQ(control::span_text(3 * 3600 + 120), "3h2m");
    EXPECT_EQ(control::span_text(5 * 86400 + 3600), "5d1h");
    EXPECT_EQ(control::span_text(-5), "0s");
}

TEST(QueueListing, ReadsRealQueueFilesAndFindsByIdOrFileName) {
    TempDir dir;
    store::test::make_maildir(dir / "mail/alice");
    std::string queue_dir = dir / "queue";
    store::MailStore store(store::StoreConfig{dir / "mail", queue_dir, "", "h"});
    ASSERT_EQ(store::test::deliver_now(store, store::Delivery{"QA", "alice@h", {}, {"x@far.example"},
                                                              "Subject: one\r\n\r\nbody\r\n"}),
              store::Status::ok);
    auto entries = control::read_queue(queue_dir);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].id, "QA");
    EXPECT_EQ(entries[0].recipients[0].address, "x@far.example");
    auto found = control::find_message(queue_dir, "QA");
    ASSERT_TRUE(found);
    EXPECT_FALSE(control::find_message(queue_dir, "QZ"));
    std::string headers;
    ASSERT_EQ(q::read_header_section(queue_dir, found->name, 1 << 16, headers), store::Status::ok);
    std::string shown = control::show_text(*found, headers, found->created + 5);
    EXPECT_NE(shown.find("id: QA\n"), std::string::npos) << shown;
    EXPECT_NE(shown.find("    pending <x@far.example>\n"), std::string::npos) << shown;
    EXPECT_NE(shown.find("Subject: one\n"), std::string::npos) << shown;
    EXPECT_EQ(shown.find("body"), std::string::npos) << shown;  // the header section only
}
