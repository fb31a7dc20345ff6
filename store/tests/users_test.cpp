#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <crypt.h>
#include <vector>
#include <memory>
#include <stdexcept>

#include "store/users.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

std::string sha512_crypt(const std::string& password) {
    auto data = std::make_unique<crypt_data>();
    const char* hash = ::crypt_r(password.c_str(), "$6$bmTestSalt$", data.get());
    return hash ? hash : "";
}

}  // namespace

TEST(Users, ClearPasswordMatchesOnlyExactly) {
    TempDir dir;
    write_text(dir / "users", "# comment\n\nalice:secret\r\nbob:other\n");
    Users users(dir / "users");
    EXPECT_TRUE(users.check_password("alice", "secret"));
    EXPECT_FALSE(users.check_password("alice", "secret "));
    EXPECT_FALSE(users.check_password("alice", "Secret"));
    EXPECT_FALSE(users.check_password("alice", ""));
    EXPECT_TRUE(users.check_password("bob", "other"));
    EXPECT_FALSE(users.check_password("carol", "secret"));
    EXPECT_FALSE(users.check_password("# comment", ""));
}

TEST(Users, CryptSha512HashIsVerifiedWithCrypt3) {
    std::string hash = sha512_crypt("s3cret!");
    ASSERT_TRUE(hash.starts_with("$6$"));
    TempDir dir;
    write_text(dir / "users", "carol:" + hash + "\n");
    Users users(dir / "users");
    EXPECT_TRUE(users.check_password("carol", "s3cret!"));
    EXPECT_FALSE(users.check_password("carol", "s3cret"));
    EXPECT_FALSE(users.check_password("carol", hash));
}

TEST(Users, ApopDigestIsMd5OfTimestampAndPassword_Rfc1939Section7) {
    TempDir dir;
    write_text(dir / "users", "mrose:tanstaaf\n");
    Users users(dir / "users");
    const std::string ts = "<1896.697170952@dbc.mtview.ca.us>";
    EXPECT_TRUE(users.check_apop("mrose", ts, "c4c9334bac560ecc979e58001b3e22fb"));
    EXPECT_TRUE(users.check_apop("mrose", ts, "C4C9334BAC560ECC979E58001B3E22FB"));
    EXPECT_FALSE(users.check_apop("mrose", ts, "c4c9334bac560ecc979e58001b3e22fc"));
    EXPECT_FALSE(users.check_apop("mrose", "<other@host>", "c4c9334bac560ecc979e58001b3e22fb"));
    EXPECT_FALSE(users.check_apop("nobody", ts, "c4c9334bac560ecc979e58001b3e22fb"));
}

TEST(Users, ApopRefusedForHashedPassword) {
    TempDir dir;
    std::string hash = sha512_crypt("pw");
    write_text(dir / "users", "carol:" + hash + "\n");
    Users users(dir / "users");
    EXPECT_FALSE(users.check_apop("carol", "<1@h>", ""));
    EXPECT_FALSE(users.check_apop("carol", "<1@h>", "00000000000000000000000000000000"));
}

TEST(Users, EmptyPasswordFieldLocksTheAccount) {
    TempDir dir;
    write_text(dir / "users", "locked:\n");
    Users users(dir / "users");
    EXPECT_FALSE(users.check_password("locked", ""));
}

TEST(Users, NoFileRefusesEveryone) {
    Users users;
    EXPECT_TRUE(users.empty());
    EXPECT_FALSE(users.check_password("alice", "secret"));
}

TEST(Users, UnreadableFileThrowsNamingIt) {
    try {
        Users users("/nonexistent/bm-users");
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/bm-users"), std::string::npos);
    }
}

namespace {

double median_ms(const Users& users, const std::string& user, int runs) {
    std::vector<double> took;
    for (int i = 0; i < runs; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        users.check_password(user, "guess-" + std::to_string(i));
        took.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(took.begin(), took.end());
    return took[took.size() / 2];
}

}  // namespace

// An unknown user's check runs crypt(3) against a hash of the file (same
// scheme, same rounds), so its time is a known user's wrong password's.
TEST(Users, AnUnknownUserCostsACryptLikeAKnownOne) {
    auto data = std::make_unique<crypt_data>();
    std::string hash = ::crypt_r("right", "$6$rounds=50000$bmTiming$", data.get());
    TempDir dir;
    write_text(dir / "users", "dave:" + hash + "\n");
    Users users(dir / "users");
    double known = median_ms(users, "dave", 7);
    double unknown = median_ms(users, "nobody", 7);
    EXPECT_GT(known, 1.0);  // 50,000 rounds of SHA-512: milliseconds, or the test proves nothing
    EXPECT_GT(unknown, known * 0.6) << "unknown " << unknown << " ms, known " << known << " ms";
    EXPECT_LT(unknown, known * 1.6) << "unknown " << unknown << " ms, known " << known << " ms";
    EXPECT_FALSE(users.check_password("nobody", "right"));  // the borrowed hash opens nothing
}
