// The control socket end to end on a scratch queue dir: the client's
// request reaches the handler on the polling side, its reply the client;
// bad lines never reach the handler; the socket is the owner's only; a
// crash's leftover is replaced, a live server's socket is not.
#include "relay/control/server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "relay/control/client.hpp"
#include "store/tests/test_support.hpp"

using namespace bm::control;
using bm::store::test::TempDir;

namespace {

struct Recorder final : ControlHandler {
    ControlServer* server = nullptr;
    std::vector<Request> seen;
    void on_control(std::uint64_t client, const Request& r) override {
        seen.push_back(r);
        server->reply(client, r.id == "Q404" ? Reply{Outcome::not_found, "no message Q404"}
                                             : Reply{Outcome::ok, "held " + r.id});
    }
};

// A server on a scratch queue dir whose handler records and answers.
struct Served {
    TempDir dir;
    Recorder handler;
    std::string error;
    std::unique_ptr<ControlServer> server = ControlServer::open(dir.path(), handler, error);
    Served() { handler.server = server.get(); }
};

// An AF_UNIX address for `path` (short: test dirs are).
sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::copy(path.begin(), path.end(), addr.sun_path);
    return addr;
}

// Runs ask_server on a thread while this one polls the server (bounded).
ClientResult ask_while_polling(ControlServer& server, const std::string& queue_dir, const Request& r) {
    auto answer = std::async(std::launch::async, [&] { return ask_server(queue_dir, r, 5); });
    for (int i = 0; i < 5000 && answer.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready; ++i)
        server.poll(std::time(nullptr));
    return answer.get();
}

}  // namespace

TEST(ControlServer, RequestReachesTheHandlerAndTheReplyTheClient) {
    Served t;
    ASSERT_TRUE(t.server) << t.error;
    auto& [dir, handler, error, server] = t;
    ClientResult r = ask_while_polling(*server, dir.path(), Request{Command::hold, "Q1"});
    ASSERT_EQ(r.kind, ClientResult::Kind::replied) << r.error;
    EXPECT_EQ(r.reply.outcome, Outcome::ok);
    EXPECT_EQ(r.reply.text, "held Q1");
    ASSERT_EQ(handler.seen.size(), 1u);
    EXPECT_EQ(handler.seen[0].command, Command::hold);

    r = ask_while_polling(*server, dir.path(), Request{Command::remove, "Q404"});
    EXPECT_EQ(r.reply.outcome, Outcome::not_found);
    server->poll(std::time(nullptr));
    EXPECT_EQ(server->clients(), 0u);  // each connection closed after its reply
}

TEST(ControlServer, ABadLineIsAnsweredWithoutReachingTheHandler) {
    Served t;
    ASSERT_TRUE(t.server) << t.error;
    auto& [dir, handler, error, server] = t;
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr = address_of(socket_path(dir.path()));
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string line = "delete ../x\n";
    ASSERT_EQ(::send(fd, line.data(), line.size(), 0), ssize_t(line.size()));
    server->poll(std::time(nullptr));
    char buffer[256] = {};
    ssize_t n = ::recv(fd, buffer, sizeof buffer - 1, 0);
    ::close(fd);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buffer), "error not a queue id: ../x\n");
    EXPECT_TRUE(handler.seen.empty());
}

TEST(ControlServer, SocketIsOwnerOnlyAndRemovedAtTheEnd) {
    Served t;
    ASSERT_TRUE(t.server) << t.error;
    auto& [dir, handler, error, server] = t;
    struct stat st {};
    ASSERT_EQ(::lstat(socket_path(dir.path()).c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    server.reset();
    EXPECT_NE(::lstat(socket_path(dir.path()).c_str(), &st), 0);
}

TEST(ControlServer, ALeftoverSocketIsReplacedALiveOneIsNot) {
    TempDir dir;
    Recorder handler;
    std::string error;
    {
        // A socket file nobody listens on, as a crash leaves it.
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr = address_of(socket_path(dir.path()));
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        ::close(fd);
    }
    auto first = ControlServer::open(dir.path(), handler, error);
    ASSERT_TRUE(first) << error;
    auto second = ControlServer::open(dir.path(), handler, error);
    EXPECT_FALSE(second);
    EXPECT_EQ(error, "another server answers on " + socket_path(dir.path()));
}

TEST(ControlServer, NoServerIsSaidPlainly) {
    TempDir dir;
    ClientResult r = ask_server(dir.path(), Request{Command::flush, ""}, 1);
    EXPECT_EQ(r.kind, ClientResult::Kind::not_running);
    EXPECT_EQ(r.error, "the server is not running (nothing answers on " + socket_path(dir.path()) + ")");
}

// sun_path holds 107 octets; a deeper queue dir is reached through its
// directory's descriptor, for the server and the tool alike.
TEST(ControlServer, AQueueDirDeeperThanSunPathStillWorks) {
    TempDir root;
    std::string deep = root.path();
    while (deep.size() < 150) {
        deep += "/a-rather-long-directory-name";
        ASSERT_EQ(::mkdir(deep.c_str(), 0700), 0);
    }
    Recorder handler;
    std::string error;
    auto server = ControlServer::open(deep, handler, error);
    ASSERT_TRUE(server) << error;
    handler.server = server.get();
    struct stat st {};
    ASSERT_EQ(::lstat(socket_path(deep).c_str(), &st), 0);  // in the real directory
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    ClientResult r = ask_while_polling(*server, deep, Request{Command::flush, ""});
    ASSERT_EQ(r.kind, ClientResult::Kind::replied) << r.error;
    EXPECT_EQ(r.reply.outcome, Outcome::ok);
    server.reset();
    EXPECT_NE(::lstat(socket_path(deep).c_str(), &st), 0);
}
