#include <gtest/gtest.h>

#include <cctype>
#include <stdexcept>

#include "store/mail_store.hpp"
#include "store/maildir.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

const std::string message =
    "Received: from client\r\nSubject: hello\r\n\r\nline one\r\n.leading dot\r\n\r\nlast\r\n";

}  // namespace

TEST(MaildirDelivery, FileInNewIsByteExactAndTmpIsEmpty) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "mx.example"});
    ASSERT_EQ(deliver_now(store, Delivery{"q1", "bob@example.org", {"alice"}, {}, message}),
              Status::ok);
    auto files = names_in(dir / "alice/new");
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(read_text(dir / "alice/new/" + files[0]), message);
    EXPECT_TRUE(names_in(dir / "alice/tmp").empty());
    EXPECT_TRUE(names_in(dir / "alice/cur").empty());
}

TEST(MaildirDelivery, UniqueNameCarriesTimePidCounterHostAndCrlfSize) {
    TempDir dir;
    make_maildir(dir / "alice");
    MailStore store(StoreConfig{dir.path(), "", "", "mx.example"});
    ASSERT_EQ(deliver_now(store, Delivery{"q1", "", {"alice"}, {}, message}), Status::ok);
    ASSERT_EQ(deliver_now(store, Delivery{"q2", "", {"alice"}, {}, message}), Status::ok);
    auto files = names_in(dir / "alice/new");
    ASSERT_EQ(files.size(), 2u);
    EXPECT_NE(files[0], files[1]);
    // <sec>.M<usec, 6 digits>P<pid>Q<counter>.<host>,S=<size>
    std::size_t pos = 0;
    auto digits = [&](std::size_t min) {
        std::size_t start = pos;
        while (pos < files[0].size() && std::isdigit(static_cast<unsigned char>(files[0][pos]))) ++pos;
        return pos - start >= min;
    };
    auto literal = [&](std::string_view text) {
        bool ok = files[0].compare(pos, text.size(), text) == 0;
        pos += text.size();
        return ok;
    };
    EXPECT_TRUE(digits(1) && literal(".M") && digits(6) && literal("P") && digits(1) &&
                literal("Q") && digits(1) && literal(".mx.example,S="))
        << files[0];
    EXPECT_EQ(files[0].substr(pos), std::to_string(message.size()));
}

TEST(MaildirDelivery, HostnameSlashAndColonAreEscapedInNames) {
    std::string name = maildir::unique_name("a/b:c", 5);
    EXPECT_EQ(name.find('/'), std::string::npos);
    EXPECT_EQ(name.find(':'), std::string::npos);
    EXPECT_NE(name.find("a\\057b\\072c,S=5"), std::string::npos);
}

TEST(MaildirDelivery, SizeFromNamePrefersWThenS) {
    EXPECT_EQ(maildir::size_from_name("1.M1P1Q1.h,S=10:2,S"), 10u);
    EXPECT_EQ(maildir::size_from_name("1.M1P1Q1.h,S=10,W=12:2,"), 12u);
    EXPECT_FALSE(maildir::size_from_name("1.M1P1Q1.h:2,S").has_value());
    EXPECT_FALSE(maildir::size_from_name("1.M1P1Q1.h,S=x1").has_value());
}

TEST(FindUser, ExactMatchFirstThenLowerCasedLocalPart) {
    TempDir dir;
    make_maildir(dir / "alice");
    make_maildir(dir / "Bob");
    make_maildir(dir / "bob");
    write_text(dir / "carol.mbox", "");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    EXPECT_EQ(store.find_user("alice"), "alice");
    EXPECT_EQ(store.find_user("ALICE"), "alice");
    EXPECT_EQ(store.find_user("Bob"), "Bob");
    EXPECT_EQ(store.find_user("BOB"), "bob");
    EXPECT_EQ(store.find_user("Carol"), "carol");
    EXPECT_FALSE(store.find_user("dave").has_value());
}

TEST(FindUser, RejectsSlashLeadingDotEmptyAndOverlong) {
    TempDir dir;
    make_maildir(dir / "alice");
    make_maildir(dir / ".hidden");
    make_maildir(dir / std::string(65, 'a'));
    make_maildir(dir / std::string(64, 'b'));
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    EXPECT_FALSE(store.find_user("").has_value());
    EXPECT_FALSE(store.find_user(".hidden").has_value());
    EXPECT_FALSE(store.find_user(".queue").has_value());
    EXPECT_FALSE(store.find_user("../" + dir.path().substr(5) + "/alice").has_value());
    EXPECT_FALSE(store.find_user("alice/new").has_value());
    EXPECT_FALSE(store.find_user(std::string(65, 'a')).has_value());
    EXPECT_TRUE(store.find_user(std::string(64, 'b')).has_value());
}

TEST(FindUser, DirectoryWithoutCurNewTmpIsNoMailbox) {
    TempDir dir;
    fs::create_directories(dir / "half/new");
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    EXPECT_FALSE(store.find_user("half").has_value());
}

TEST(MailStoreConfig, MissingMailDirThrowsWithItsName) {
    try {
        MailStore store(StoreConfig{"/nonexistent/bm-mail", "", "", "h"});
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/bm-mail"), std::string::npos);
    }
}

TEST(MailStoreConfig, MissingUsersFileThrows) {
    TempDir dir;
    EXPECT_THROW(MailStore(StoreConfig{dir.path(), "", dir / "no-users", "h"}),
                 std::runtime_error);
}

TEST(MailStoreConfig, QueueDirDefaultsToDotQueueAndIsCreated) {
    TempDir dir;
    MailStore store(StoreConfig{dir.path(), "", "", "h"});
    EXPECT_EQ(store.config().queue_dir, dir / ".queue");
    EXPECT_TRUE(fs::is_directory(dir / ".queue/tmp"));
}
