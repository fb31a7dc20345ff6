#include <gtest/gtest.h>

#include <chrono>
#include <crypt.h>
#include <memory>
#include <poll.h>
#include <thread>

#include "store/auth_worker.hpp"
#include "test_support.hpp"

using namespace bm::store;
using namespace bm::store::test;

namespace {

std::string sha512_crypt(const std::string& password) {
    auto data = std::make_unique<crypt_data>();
    const char* hash = ::crypt_r(password.c_str(), "$6$rounds=20000$bmAuthSalt$", data.get());
    return hash ? hash : "";
}

// Polls until `n` results came back (bounded: 10 s).
std::vector<bool> results(AuthWorker& worker, std::vector<bool>& out, std::size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
        pollfd p{worker.event_fd(), POLLIN, 0};
        ::poll(&p, 1, 100);
        worker.poll();
    }
    return out;
}

}  // namespace

TEST(AuthWorker, ChecksClearAndCryptPasswordsAndAnswersThroughPoll) {
    TempDir dir;
    write_text(dir / "users", "alice:secret\nbob:" + sha512_crypt("hunter2") + "\n");
    AuthWorker worker(dir / "users");
    std::vector<bool> out;
    auto keep = [&out](bool ok) { out.push_back(ok); };
    ASSERT_TRUE(worker.submit({"alice", "secret", "", ""}, keep));
    ASSERT_TRUE(worker.submit({"alice", "wrong", "", ""}, keep));
    ASSERT_TRUE(worker.submit({"bob", "hunter2", "", ""}, keep));
    ASSERT_TRUE(worker.submit({"bob", "hunter3", "", ""}, keep));
    ASSERT_TRUE(worker.submit({"nobody", "hunter2", "", ""}, keep));
    EXPECT_EQ(results(worker, out, 5), (std::vector<bool>{true, false, true, false, false}));
    EXPECT_EQ(worker.in_flight(), 0u);
}

TEST(AuthWorker, TheCheckRunsOnItsOwnThreadNotThePollingOne) {
    TempDir dir;
    write_text(dir / "users", "bob:" + sha512_crypt("hunter2") + "\n");
    AuthWorker worker(dir / "users");
    bool done = false;
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(worker.submit({"bob", "hunter2", "", ""}, [&done](bool ok) { done = ok; }));
    auto submit_took = std::chrono::steady_clock::now() - t0;
    EXPECT_FALSE(done);  // never answered inside submit
    EXPECT_LT(submit_took, std::chrono::milliseconds(5));  // crypt (20,000 rounds) did not run here
    std::vector<bool> out;
    while (!done && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
        pollfd p{worker.event_fd(), POLLIN, 0};
        ::poll(&p, 1, 100);
        worker.poll();
    }
    EXPECT_TRUE(done);
}

TEST(AuthWorker, AFullQueueRefusesInsteadOfGrowing) {
    TempDir dir;
    write_text(dir / "users", "bob:" + sha512_crypt("hunter2") + "\n");
    AuthWorker worker(dir / "users", 2);
    std::vector<bool> out;
    auto keep = [&out](bool ok) { out.push_back(ok); };
    int taken = 0;
    for (int i = 0; i < 10; ++i) taken += worker.submit({"bob", "x", "", ""}, keep) ? 1 : 0;
    EXPECT_GE(taken, 2);
    EXPECT_LE(taken, 3);  // two waiting, at most one being checked
    results(worker, out, std::size_t(taken));
    EXPECT_EQ(out.size(), std::size_t(taken));
}

TEST(AuthWorker, AChangedUsersFileIsReadAgain) {
    TempDir dir;
    write_text(dir / "users", "alice:old\n");
    AuthWorker worker(dir / "users");
    std::vector<bool> out;
    auto keep = [&out](bool ok) { out.push_back(ok); };
    worker.submit({"alice", "old", "", ""}, keep);
    results(worker, out, 1);
    write_text(dir / "users", "alice:newer-password\n");  // another size: seen as changed
    worker.submit({"alice", "newer-password", "", ""}, keep);
    worker.submit({"alice", "old", "", ""}, keep);
    EXPECT_EQ(results(worker, out, 3), (std::vector<bool>{true, true, false}));
}

TEST(AuthWorker, StopFinishesWhatWasQueued) {
    TempDir dir;
    write_text(dir / "users", "alice:secret\n");
    std::vector<bool> out;
    {
        AuthWorker worker(dir / "users");
        worker.submit({"alice", "secret", "", ""}, [&out](bool ok) { out.push_back(ok); });
        worker.stop();
        worker.poll();
    }
    EXPECT_EQ(out, (std::vector<bool>{true}));
}
