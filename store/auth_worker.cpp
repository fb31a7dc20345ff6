#include "store/auth_worker.hpp"

#include <unistd.h>

#include <cstdint>

#include "store/event_fd.hpp"

namespace bm::store {

AuthWorker::AuthWorker(std::string users_file, std::size_t max_waiting)
    : users_(std::move(users_file)), max_waiting_(max_waiting) {
    event_fd_ = make_eventfd(EFD_NONBLOCK, "password checks");
    thread_ = std::thread([this] { run(); });
}

AuthWorker::~AuthWorker() {
    stop();
    ::close(event_fd_);
}

bool AuthWorker::submit(Credentials credentials, Done done) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || waiting_.size() >= max_waiting_) return false;
        waiting_.push_back(Check{std::move(credentials), std::move(done)});
    }
    ++in_flight_;
    work_.notify_one();
    return true;
}

// Drained before the results are taken: a check finished after the drain
// writes again, so none is left unannounced (at worst a wake-up finds
// nothing).
std::size_t AuthWorker::poll() {
    if (in_flight_ == 0) return 0;
    std::vector<Check> done;
    drain_eventfd(event_fd_);
    {
        std::lock_guard lock(mutex_);
        done.swap(finished_);
    }
    for (Check& c : done) {
        --in_flight_;
        c.done(c.accepted);
    }
    return done.size();
}

void AuthWorker::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void AuthWorker::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        work_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
        if (waiting_.empty()) return;  // stopping, and every check is done
        Check c = std::move(waiting_.front());
        waiting_.pop_front();
        lock.unlock();
        c.accepted = check(c.credentials);
        lock.lock();
        finished_.push_back(std::move(c));
        announce();
    }
}

bool AuthWorker::check(const Credentials& c) {
    const Users& users = users_.current();
    if (!c.apop_digest.empty()) return users.check_apop(c.user, c.apop_timestamp, c.apop_digest);
    return users.check_password(c.user, c.password);
}

void AuthWorker::announce() {
    signal_eventfd(event_fd_);
    if (wake_fd_ >= 0) signal_eventfd(wake_fd_);
}

}  // namespace bm::store
