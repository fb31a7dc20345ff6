#include "dataplane/dpdk/rx_waiter.hpp"

#include "dataplane/dpdk/idle_policy.hpp"

#include <rte_ethdev.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <cstring>
#include <stdexcept>
#include <string>

namespace bm::dpdk {
namespace {

constexpr std::uint16_t queue = 0;
// The kernel may end a sleep this much late (default 50 µs: as long as the
// shortest blind sleep).
constexpr unsigned long blind_timer_slack_ns = 5'000;

void drain_eventfd(int fd, void*) {
    std::uint64_t count;
    while (::read(fd, &count, sizeof count) < 0 && errno == EINTR) {}
}

[[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string("adaptive polling: ") + what + ": " + std::strerror(errno));
}

}  // namespace

RxWaiter::RxWaiter(std::uint16_t port, int completion_fd) : port_(port) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) fail("epoll_create1");
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
        ::close(epoll_fd_);
        fail("eventfd");
    }
    // Both drained here when they wake the loop: the worker's fd can be
    // left readable after poll_completions has taken what it announced (a
    // completion handed back between the worker's flag and its write), and
    // would then end every sleep at once. The loop polls the completions
    // after every wake-up anyway.
    watch(completion_event_, completion_fd, drain_eventfd);
    watch(wake_event_, wake_fd_, drain_eventfd);
    // Adds the queue's interrupt fd, with the PMD's handler, to our epoll
    // instance; fails when the PMD has none.
    rx_interrupts_ = rte_eth_dev_rx_intr_ctl_q(port_, queue, epoll_fd_, RTE_INTR_EVENT_ADD, nullptr) == 0;
    if (rx_interrupts_) rte_eth_dev_rx_intr_disable(port_, queue);  // off while busy polling
    else prctl(PR_SET_TIMERSLACK, blind_timer_slack_ns);  // this thread's: the polling one
}

RxWaiter::~RxWaiter() {
    if (rx_interrupts_) rte_eth_dev_rx_intr_ctl_q(port_, queue, epoll_fd_, RTE_INTR_EVENT_DEL, nullptr);
    rte_epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, wake_event_.fd, &wake_event_);
    rte_epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, completion_event_.fd, &completion_event_);
    ::close(wake_fd_);
    ::close(epoll_fd_);
}

void RxWaiter::watch(rte_epoll_event& event, int fd, rte_intr_event_cb_t on_ready) {
    event.epdata.event = EPOLLIN;  // level-triggered: readable until drained
    event.epdata.cb_fun = on_ready;
    if (rte_epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) fail("epoll_ctl");
}

void RxWaiter::arm() {
    if (!rx_interrupts_) return;  // the other fds are level-triggered: nothing stale to forget
    if (!armed_) armed_ = rte_eth_dev_rx_intr_enable(port_, queue) == 0;
    // The rx interrupt is edge-triggered (rte_intr_rx_ctl): frames taken
    // while busy polling left events behind. What they announced has been
    // received, and what comes from now on raises a new one.
    drain_events(0);
}

void RxWaiter::disarm() {
    if (!armed_) return;
    rte_eth_dev_rx_intr_disable(port_, queue);
    armed_ = false;
}

void RxWaiter::sleep(std::uint64_t timeout_us) {
    if (rx_interrupts_) drain_events(whole_ms(timeout_us));
    else blind_wait(timeout_us);
    disarm();
}

void RxWaiter::drain_events(int timeout_ms) {
    std::array<rte_epoll_event, 4> ready;
    // Interruptible: a signal ends the sleep (its handler also writes
    // wake_fd, for when another thread takes it).
    rte_epoll_wait_interruptible(epoll_fd_, ready.data(), int(ready.size()), timeout_ms);
}

// Only our two eventfds are in the set: drained here as their callbacks
// would be (rte_epoll_ctl left each one's rte_epoll_event as the data).
void RxWaiter::blind_wait(std::uint64_t timeout_us) {
    std::array<epoll_event, 2> ready;
    timespec timeout{time_t(timeout_us / 1'000'000), long(timeout_us % 1'000'000 * 1000)};
    int n = ::epoll_pwait2(epoll_fd_, ready.data(), int(ready.size()), &timeout, nullptr);
    for (int i = 0; i < n; ++i) drain_eventfd(static_cast<rte_epoll_event*>(ready[i].data.ptr)->fd, nullptr);
}

}  // namespace bm::dpdk
