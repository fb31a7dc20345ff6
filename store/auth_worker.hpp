// POP3 password checks on a thread of their own. crypt(3) with a modern
// scheme (yescrypt, SHA-512 with many rounds) costs milliseconds by design;
// run on the I/O worker it would hold up every fsync and delivery queued
// behind it, so a password guesser could slow SMTP for everyone. Here the
// I/O worker never waits on crypt: the check runs first on this thread,
// and only a login that passed goes on to the I/O worker to lock and read
// its maildrop (dataplane/common/mail_backend).
//
// Like the I/O worker it is fed and polled from the polling thread only;
// results come back through poll(), announced by event_fd() (the kernel
// build's epoll) and, if set, a write to the wake fd (the DPDK build's idle
// sleep). The queue is bounded: a flood of logins is refused (the session
// answers with a temporary failure), never queued without limit.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/users.hpp"

namespace bm::store {

struct Credentials {
    std::string user;
    std::string password;        // USER/PASS, or
    std::string apop_digest;     // APOP (RFC 1939 §7): hex MD5 of timestamp + secret
    std::string apop_timestamp;
};

class AuthWorker {
public:
    using Done = std::function<void(bool accepted)>;  // on the polling thread

    // Throws std::runtime_error when the users file cannot be read.
    explicit AuthWorker(std::string users_file, std::size_t max_waiting = 1024);
    ~AuthWorker();  // stop()
    AuthWorker(const AuthWorker&) = delete;
    AuthWorker& operator=(const AuthWorker&) = delete;

    // False when max_waiting checks are already queued.
    bool submit(Credentials credentials, Done done);
    // Runs `done` of every finished check; returns how many.
    std::size_t poll();
    int event_fd() const { return event_fd_; }
    // An eventfd written (as well as event_fd) each time a check finishes.
    void set_wake_fd(int fd) { wake_fd_ = fd; }
    std::size_t in_flight() const { return in_flight_; }  // polling thread
    // SIGHUP: the next check reads the users file again, changed or not.
    void reload_users() { users_.request_reload(); }
    // Finish the queued checks, then join the thread (their results stay
    // for poll()).
    void stop();

private:
    struct Check {
        Credentials credentials;
        Done done;
        bool accepted = false;
    };
    void run();
    bool check(const Credentials& credentials);
    void announce();

    UsersFile users_;  // the worker thread's alone once it runs
    std::size_t max_waiting_;
    int event_fd_ = -1;
    int wake_fd_ = -1;
    std::size_t in_flight_ = 0;

    std::mutex mutex_;
    std::condition_variable work_;
    std::deque<Check> waiting_;
    std::vector<Check> finished_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace bm::store
