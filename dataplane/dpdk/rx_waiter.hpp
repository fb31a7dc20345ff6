// Puts the polling core to sleep until there is work (--poll adaptive):
// a frame on the port's receive queue, a readable fd (the I/O worker's
// completions; a signal's wake-up), or a timeout.
//
// Frames wake it through the PMD's rx interrupt where there is one
// (rte_eth_dev_rx_intr_enable; the port configured with intr_conf.rxq, see
// port.hpp): net_tap signals on its queue fd. A PMD without one (net_memif
// in DPDK 22.11 has no rx_queue_intr_enable; net_pcap, net_ring,
// net_af_packet) cannot wake it: the loop then sleeps in short steps
// (IdlePolicy::blind_sleep_us), which a frame waits out at worst.
//
// All fds share one epoll instance. With an rx interrupt it is waited on
// with the EAL's rte_epoll calls, which run the interrupt's own handler
// (it reads the eventfds that need reading); they take milliseconds. The
// short steps of a port without one need microseconds: epoll_pwait2.
#pragma once

#include <rte_epoll.h>

#include <array>
#include <cstdint>

namespace bm::dpdk {

class RxWaiter {
public:
    // `completion_fd`: readable when store completions wait (the I/O
    // worker's eventfd). Throws std::runtime_error when no epoll
    // instance or eventfd can be made; a port without rx interrupts is no
    // error (rx_interrupts() is false).
    RxWaiter(std::uint16_t port, int completion_fd);
    ~RxWaiter();
    RxWaiter(const RxWaiter&) = delete;
    RxWaiter& operator=(const RxWaiter&) = delete;

    bool rx_interrupts() const { return rx_interrupts_; }
    // An eventfd: a write ends the current sleep (async-signal-safe, for
    // the signal handlers).
    int wake_fd() const { return wake_fd_; }

    // Enables the rx interrupt and forgets wake-ups that came while it was
    // off; the caller then polls the queue once more before sleep().
    void arm();
    void disarm();
    // Returns after an event, a signal or `timeout_us` (rounded up to
    // whole milliseconds with an rx interrupt), disarmed.
    void sleep(std::uint64_t timeout_us);

private:
    void watch(rte_epoll_event& event, int fd, rte_intr_event_cb_t on_ready);
    void drain_events(int timeout_ms);
    void blind_wait(std::uint64_t timeout_us);

    std::uint16_t port_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    bool rx_interrupts_ = false;
    bool armed_ = false;
    // Registered with the epoll instance by address: they must not move.
    rte_epoll_event completion_event_{};
    rte_epoll_event wake_event_{};
};

}  // namespace bm::dpdk
