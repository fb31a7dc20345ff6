// --transport kernel: the client side on Linux sockets. One thread, one
// epoll set, non-blocking sockets with TCP_NODELAY (each command is one
// write that must leave now, not wait for Nagle). Each connection hosts
// its scenario's client session as the server's kernel build hosts its
// machines: the connection is the session's Transport.
//
// Every wait is bounded: a connect or a reply that takes longer than
// --timeout is counted and the connection dropped, and the whole run
// stops at --time-limit.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "harness/mailgun/clock.hpp"
#include "harness/mailgun/scenario.hpp"
#include "harness/mailgun/workload.hpp"

namespace bm::mailgun {

class KernelTransport {
public:
    KernelTransport(const Workload& workload, Tally& tally);
    ~KernelTransport();
    KernelTransport(const KernelTransport&) = delete;
    KernelTransport& operator=(const KernelTransport&) = delete;

    // Until the scenario is exhausted and every connection closed, or the
    // time limit. Throws std::runtime_error when epoll cannot be set up.
    void run(Scenario& scenario);

private:
    struct Connection;

    void launch_due(std::uint64_t now);
    void open(const Launch& launch, std::uint64_t now);
    void on_event(std::uint64_t key, std::uint32_t events, std::uint64_t now);
    void on_connected(Connection& c, std::uint64_t now);
    void on_readable(Connection& c, std::uint64_t now);
    void flush(Connection& c, std::uint64_t now);
    void after_session_call(Connection& c, std::uint64_t now);
    void watch(Connection& c, bool read, bool write);
    void release(Connection& c, std::uint64_t now);
    void expire(std::uint64_t now);
    void stop_all(std::uint64_t now);
    int wait_ms(std::uint64_t now, std::uint64_t hard_deadline) const;

    const Workload& workload_;
    Tally& tally_;
    MonotonicClock clock_;
    Scenario* scenario_ = nullptr;
    int epoll_fd_ = -1;
    std::uint64_t timeout_ns_;
    std::vector<std::unique_ptr<Connection>> pool_;
    std::vector<std::uint32_t> free_;
    std::vector<std::uint32_t> open_;  // indices of connections in use
};

}  // namespace bm::mailgun
