// The kernel-socket build's server: one epoll loop runs every service, the
// same protocol machines (apps/) and store (store/, through its I/O worker)
// as the DPDK build. Connections come from a pool allocated at start.
// The relay client runs in the same loop (SPEC: one process serves
// everything, relay_link.hpp): its outbound connections come from their own
// share of the pool (they never count against --max-conn), its DNS lookups
// are watched through one descriptor, its schedule is ticked every turn.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <vector>

#include "dataplane/common/event_log.hpp"
#include "dataplane/common/mail_backend.hpp"
#include "dataplane/common/options.hpp"
#include "dataplane/kernel/connection.hpp"
#include "dataplane/kernel/relay_link.hpp"

namespace bm::kernel {

class KernelServer final : public RelayConnector {
public:
    // Opens the listening sockets; throws std::runtime_error naming the
    // port when one cannot be opened.
    KernelServer(const Options& options, EventLog& log);
    ~KernelServer();
    KernelServer(const KernelServer&) = delete;
    KernelServer& operator=(const KernelServer&) = delete;

    // Serves until SIGTERM/SIGINT, then shuts down as SPEC says. `store` is
    // null in --sink mode.
    void run(store::MailStore* store);

    // For Connection.
    void submit(Connection& connection, apps::StoreRequest request);
    EventLog& log() { return log_; }

    // RelayConnector, for the relay link.
    bool connect_relay(std::uint64_t delivery, std::uint32_t ip, std::uint16_t port,
                       apps::OutboundMessage message) override;

private:
    struct Listener {
        int fd = -1;
        Service service;
        std::uint32_t limit = 0;
        std::uint32_t active = 0;
    };

    void open_listener(Service service, std::uint16_t port);
    void handle_event(std::uint64_t key, std::uint32_t events);
    void accept_clients(Listener& listener);
    // counted: admitted by ServiceHost::admit, released at teardown.
    void start_session(int fd, Listener& listener, bool counted);
    static std::chrono::milliseconds now_ms();
    Connection& take_slot(int fd, Service service, bool relay);
    void finish_connect(Connection& c);
    void start_relay(store::MailStore& store, store::IoWorker& worker);
    void refuse_client(int fd, Listener& listener, const char* why, const sockaddr_in& remote);
    void on_readable(Connection& c);
    void offer_input(Connection& c);
    bool resume_input(Connection& c);  // false: torn down
    void flush(Connection& c);
    bool write_out(Connection& c);  // false: torn down
    void note_send_progress(Connection& c, bool progressed);
    void abort_stalled(Connection& c);
    void update_interest(Connection& c, bool want_read, bool want_write);
    void teardown(Connection& c, const char* why);
    bool on_store_reply(std::uint64_t token, apps::StoreReply& reply);
    void service_timers();
    void begin_shutdown();
    void read_signals();
    void report_counters() const;
    std::uint32_t idle_seconds(const Connection& c) const;

    const Options& options_;
    EventLog& log_;
    const apps::ServiceHost host_;
    std::array<Listener, apps::service_count> listeners_{};
    int epoll_fd_ = -1;
    int signal_fd_ = -1;
    std::unique_ptr<Connection[]> pool_;
    std::uint32_t capacity_ = 0;
    std::vector<std::uint32_t> free_slots_;
    std::vector<std::uint32_t> active_;  // slots in use, for timer scans
    std::uint64_t next_connection_ = 1;
    MailBackend* backend_ = nullptr;
    // The relay client (null in --sink mode: nothing is ever queued).
    std::uint32_t relay_capacity_ = 0;
    std::uint32_t relay_active_ = 0;
    apps::SmtpClientConfig client_config_;
    std::unique_ptr<RelayLink> relay_;
    bool stopping_ = false;
    Clock::time_point next_timer_scan_{};
};

}  // namespace bm::kernel
