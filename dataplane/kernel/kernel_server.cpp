#include "dataplane/kernel/kernel_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "dataplane/common/program.hpp"

namespace bm::kernel {
namespace {

// epoll keys: connections use their slot; the rest sit above every slot.
constexpr std::uint64_t key_listener = 1ull << 40;  // + service index
constexpr std::uint64_t key_store = 2ull << 40;
constexpr std::uint64_t key_signal = 3ull << 40;
constexpr std::uint64_t key_dns = 4ull << 40;

constexpr std::size_t read_chunk = 64 * 1024;
// While a machine waits on the store, at most this much input is held; then
// reading stops and TCP flow control pushes back on the client.
constexpr std::size_t max_held_input = 256 * 1024;
constexpr auto timer_scan_interval = std::chrono::milliseconds(100);
constexpr auto shutdown_grace = std::chrono::seconds(30);
// Concurrent relay deliveries, each holding at most one connection.
constexpr std::uint32_t relay_connections = 64;

std::string errno_text() { return std::strerror(errno); }

void raise_fd_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

}  // namespace

// ---- Connection -----------------------------------------------------------

void Connection::submit(apps::StoreRequest request) { server->submit(*this, std::move(request)); }

void Connection::on_command(std::string_view line) { server->log().debug_line("C: ", peer.connection, line); }

void Connection::on_reply(std::string_view line) { server->log().debug_line("S: ", peer.connection, line); }

void Connection::on_event(std::string_view event, std::string_view detail) {
    server->log().event(relay ? "relay" : apps::service_name(service), peer_text, event, detail);
}

// ---- set-up -----------------------------------------------------------------

KernelServer::KernelServer(const Options& options, EventLog& log)
    : options_(options), log_(log), host_(host_config(options, instance_tag())) {
    raise_fd_limit();
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::runtime_error("epoll_create1: " + errno_text());
    open_listener(Service::smtp, options.smtp_port);
    open_listener(Service::pop3, options.pop3_port);
    open_listener(Service::echo, options.echo_port);
    for (const Listener& l : listeners_) capacity_ += l.limit;
    relay_capacity_ = options.sink ? 0 : relay_connections;
    capacity_ += relay_capacity_;
    client_config_.hostname = options.hostname;
    client_config_.reply_timeout = std::chrono::seconds(options.relay_timeout);
    pool_ = std::make_unique<Connection[]>(capacity_);
    free_slots_.reserve(capacity_);
    active_.reserve(capacity_);
    for (std::uint32_t i = capacity_; i-- > 0;) {
        pool_[i].server = this;
        pool_[i].slot = i;
        free_slots_.push_back(i);
    }
}

KernelServer::~KernelServer() {
    for (Listener& l : listeners_)
        if (l.fd >= 0) ::close(l.fd);
    if (signal_fd_ >= 0) ::close(signal_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void KernelServer::open_listener(Service service, std::uint16_t port) {
    Listener& l = listeners_[std::size_t(service)];
    l.service = service;
    if (port == 0) return;  // service disabled
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket: " + errno_text());
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, options_.ip.c_str(), &addr.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, SOMAXCONN) != 0) {
        std::string why = errno_text();
        ::close(fd);
        throw std::runtime_error(std::string("cannot listen on ") + options_.ip + ":" +
                                 std::to_string(port) + " (" + apps::service_name(service) + "): " + why);
    }
    l.fd = fd;
    l.limit = options_.max_conn;
    epoll_event ev{EPOLLIN, {.u64 = key_listener + std::uint64_t(service)}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
}

// ---- the loop -----------------------------------------------------------------

void KernelServer::run(store::MailStore* store) {
    // TERM, INT, HUP, USR1 (program.hpp): read here, on the loop; the
    // rest that would end the process are ignored (run_program).
    sigset_t signals = server_signals();
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    signal_fd_ = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    epoll_event sev{EPOLLIN, {.u64 = key_signal}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &sev);

    store::IoWorker worker;
    MailBackend backend(store, worker, [this](std::uint64_t token, apps::StoreReply& reply) {
        return on_store_reply(token, reply);
    });
    backend_ = &backend;
    epoll_event wev{EPOLLIN, {.u64 = key_store}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, backend.event_fd(), &wev);
    if (backend.auth_event_fd() >= 0) {  // finished password checks, drained by backend.poll() too
        epoll_event aev{EPOLLIN, {.u64 = key_store}};
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, backend.auth_event_fd(), &aev);
    }
    log_.event("server", "-", "start", "pid=" + std::to_string(getpid()));
    if (store && relay_capacity_ > 0) {
        start_relay(*store, worker);
        backend.set_on_queued([this] { relay_->agent().queue_changed(); });
    }

    Clock::time_point deadline = Clock::time_point::max();
    std::array<epoll_event, 256> events;
    for (;;) {
        int n = epoll_wait(epoll_fd_, events.data(), int(events.size()), int(timer_scan_interval.count()));
        if (n < 0 && errno != EINTR) throw std::runtime_error("epoll_wait: " + errno_text());
        for (int i = 0; i < n; ++i) handle_event(events[i].data.u64, events[i].events);
        backend.poll();
        if (relay_) relay_->poll(std::time(nullptr));
        service_timers();
        if (stopping_ && deadline == Clock::time_point::max()) deadline = Clock::now() + shutdown_grace;
        if (stopping_ && ((active_.empty() && backend.in_flight() == 0) || Clock::now() > deadline)) break;
    }
    while (!active_.empty()) teardown(pool_[active_.back()], "shutdown");
    worker.stop();
    backend.poll();
    relay_.reset();
    backend_ = nullptr;
    log_.event("server", "-", "stop", "ok");
}

void KernelServer::handle_event(std::uint64_t key, std::uint32_t events) {
    if (key == key_signal) return read_signals();
    if (key == key_store) return;  // drained by backend.poll() after the batch
    if (key == key_dns) {
        if (relay_) relay_->on_dns_readable();
        return;
    }
    if (key >= key_listener) {
        Listener& l = listeners_[key - key_listener];
        if (l.fd >= 0) accept_clients(l);
        return;
    }
    Connection& c = pool_[key];
    if (!c.open()) return;
    if (c.connecting) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) finish_connect(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    if (c.open() && (events & EPOLLOUT)) flush(c);
}

void KernelServer::read_signals() {
    signalfd_siginfo info{};
    while (read(signal_fd_, &info, sizeof info) == sizeof info) {
        switch (signal_request(int(info.ssi_signo))) {
        case SignalRequest::stop:
            if (!stopping_) begin_shutdown();
            break;
        case SignalRequest::reload: run_reloads(log_); break;
        case SignalRequest::report: report_counters(); break;
        case SignalRequest::none: break;
        }
    }
}

// SIGUSR1: what the loop knows, as "name value" lines on stderr like the
// DPDK build's report.
void KernelServer::report_counters() const {
    std::string text = "baremail-kernel counters\n";
    for (const Listener& l : listeners_)
        if (l.fd >= 0)
            text += std::string("sessions.") + apps::service_name(l.service) + " " + std::to_string(l.active) + "\n";
    text += "relay.sessions " + std::to_string(relay_active_) + "\n";
    text += "connections.free " + std::to_string(free_slots_.size()) + "\n";
    text += "store.in_flight " + std::to_string(backend_ ? backend_->in_flight() : 0) + "\n";
    std::fputs(text.c_str(), stderr);
}

// SPEC: stop accepting, tell every session, finish durable writes, exit 0.
void KernelServer::begin_shutdown() {
    stopping_ = true;
    log_.event("server", "-", "shutdown", "signal");
    // The relay client starts nothing new; its sessions are cut below and
    // their recipients stay pending in the queue.
    if (relay_) relay_->stop();
    for (Listener& l : listeners_) {
        if (l.fd < 0) continue;
        ::close(l.fd);
        l.fd = -1;
    }
    std::vector<std::uint32_t> slots = active_;
    for (std::uint32_t slot : slots) {
        Connection& c = pool_[slot];
        if (!c.open()) continue;
        c.session().on_shutdown();
        flush(c);
    }
}

// ---- accepting -----------------------------------------------------------------

void KernelServer::accept_clients(Listener& listener) {
    for (;;) {
        sockaddr_in remote{};
        socklen_t remote_len = sizeof remote;
        int fd = accept4(listener.fd, reinterpret_cast<sockaddr*>(&remote), &remote_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN) log_.event(apps::service_name(listener.service), "-", "accept-failed", errno_text());
            return;
        }
        if (listener.active >= listener.limit || free_slots_.empty()) {
            refuse_client(fd, listener, "too many connections", remote);
            continue;
        }
        // SPEC --max-conn-per-ip, --max-conn-rate-per-ip (the DPDK engine asks the same host).
        std::uint32_t ip = ntohl(remote.sin_addr.s_addr);
        apps::ClientLimits::Verdict verdict = host_.admit(listener.service, ip, now_ms());
        if (verdict != apps::ClientLimits::Verdict::admitted) {
            refuse_client(fd, listener, apps::verdict_text(verdict), remote);
            continue;
        }
        start_session(fd, listener, true);
    }
}

std::chrono::milliseconds KernelServer::now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch());
}

// SPEC --max-conn: the next client gets 421 / -ERR and is closed.
void KernelServer::refuse_client(int fd, Listener& listener, const char* why, const sockaddr_in& remote) {
    std::string_view line = host_.busy_line(listener.service);
    ssize_t ignored = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
    std::string peer = format_ipv4(ntohl(remote.sin_addr.s_addr)) + ":" + std::to_string(ntohs(remote.sin_port));
    log_.event(apps::service_name(listener.service), peer, "refused", why);
    ::close(fd);
}

Connection& KernelServer::take_slot(int fd, Service service, bool relay) {
    std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    Connection& c = pool_[slot];
    c.fd = fd;
    c.service = service;
    c.relay = relay;
    c.in.clear();
    c.out.clear();
    c.closing = false;
    c.reading = true;
    c.writing = false;
    c.connecting = false;
    c.relay_delivery = 0;
    c.relay_results.clear();
    c.last_activity = Clock::now();
    c.send_stalled_since = Clock::time_point::max();
    c.wake_at = Clock::time_point::max();
    c.active_index = std::uint32_t(active_.size());
    active_.push_back(slot);
    return c;
}

void KernelServer::start_session(int fd, Listener& listener, bool counted) {
    Connection& c = take_slot(fd, listener.service, false);
    std::uint32_t slot = c.slot;
    ++listener.active;

    sockaddr_in remote{}, local{};
    socklen_t len = sizeof remote;
    getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &len);
    len = sizeof local;
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    std::uint32_t remote_ip = ntohl(remote.sin_addr.s_addr);
    c.client_counted = counted;
    c.remote_ip = remote_ip;
    c.peer.ip = remote_ip;
    c.peer.port = ntohs(remote.sin_port);
    c.peer.local_ip = ntohl(local.sin_addr.s_addr);
    c.peer.connection = next_connection_++;
    c.peer_text = Ipv4Text(c.peer.ip, c.peer.port).view();
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // we write whole replies ourselves

    apps::Session& session = host_.open(c.hosted, c.service, c.peer, remote_ip, c, c, c);
    epoll_event ev{EPOLLIN, {.u64 = slot}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    log_.debug(c.peer.connection, "New connection");
    c.on_event("connect", "");
    session.start();
    flush(c);
}

// ---- per-connection I/O -----------------------------------------------------------------

void KernelServer::on_readable(Connection& c) {
    char buf[read_chunk];
    ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return teardown(c, n == 0 ? "closed by peer" : "reset");
    if (c.closing) return;  // input after QUIT is ignored
    c.in.append(buf, std::size_t(n));
    offer_input(c);
    // Input that earns no reply (a DATA body), read to the end of what has
    // come: ACK it now, not after Linux's delayed-ACK time — a Nagle client
    // holds its next piece for it. TCP_QUICKACK does not stick: ask each time.
    int one = 1;
    if (std::size_t(n) < sizeof buf && !c.closing && !c.session().reply_due())
        setsockopt(c.fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    flush(c);
}

// Offer held input until the machine stops taking it (waiting on the store
// or a wake-up, or closing) or its unsent replies pass the bound
// (HostedSession::offer). Reading pauses while too much is held.
void KernelServer::offer_input(Connection& c) {
    if (c.in.empty() || c.closing || !c.hosted.open()) return;
    apps::HostedSession::Offered offered = c.hosted.offer(c.in, c);
    c.in.erase(0, offered.taken);
    if (offered.line_ended) c.last_activity = Clock::now();
}

// Input held back while the replies were over their bound, offered as the
// peer reads them and the bound leaves room. False: torn down.
bool KernelServer::resume_input(Connection& c) {
    while (!c.in.empty() && !c.closing && c.hosted.open() && c.send_room() > 0) {
        std::size_t held = c.in.size();
        offer_input(c);
        if (!write_out(c)) return false;
        if (c.in.size() == held) break;
    }
    return true;
}

// Writes what the socket takes. A queue that drains from past half its
// bound to half or less tells the machine (Session::on_writable), which may
// continue a streamed reply.
void KernelServer::flush(Connection& c) {
    bool was_full = c.out.size() > Connection::send_bound / 2;
    if (!write_out(c)) return;
    if (was_full && c.out.size() <= Connection::send_bound / 2 && !c.closing && c.hosted.open()) {
        c.session().on_writable();
        if (!write_out(c)) return;
    }
    if (!resume_input(c)) return;
    if (c.out.empty() && c.closing) return teardown(c, "closed");
    // Back-pressure: no more input while the replies owed are over their
    // bound; the socket's receive buffer fills and TCP closes the window.
    bool want_read = !c.closing && c.in.size() < max_held_input && c.send_room() > 0;
    update_interest(c, want_read, !c.out.empty());
}

bool KernelServer::write_out(Connection& c) {
    bool progressed = false;
    while (!c.out.empty()) {
        ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            teardown(c, "send failed");
            return false;
        }
        c.out.erase(0, std::size_t(n));
        progressed = true;
    }
    note_send_progress(c, progressed);
    return true;
}

// A reply still flowing is not idle; one the socket has stopped taking
// starts the send timeout's clock.
void KernelServer::note_send_progress(Connection& c, bool progressed) {
    if (progressed) c.last_activity = Clock::now();
    if (c.out.empty()) c.send_stalled_since = Clock::time_point::max();
    else if (progressed || c.send_stalled_since == Clock::time_point::max()) c.send_stalled_since = Clock::now();
}

void KernelServer::update_interest(Connection& c, bool want_read, bool want_write) {
    if (want_read == c.reading && want_write == c.writing) return;
    c.reading = want_read;
    c.writing = want_write;
    epoll_event ev{(want_read ? std::uint32_t(EPOLLIN) : 0u) | (want_write ? std::uint32_t(EPOLLOUT) : 0u),
                   {.u64 = c.slot}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void KernelServer::teardown(Connection& c, const char* why) {
    if (!c.open()) return;
    c.session().on_peer_closed();  // releases maildrop locks, drops half transactions
    bool relay = c.relay;
    std::uint64_t delivery = c.relay_delivery;
    std::vector<apps::RecipientResult> results = std::move(c.relay_results);
    std::string peer = c.peer_text;
    ::close(c.fd);
    c.fd = -1;
    log_.debug(c.peer.connection, "Connection closed");
    c.on_event("disconnect", why);
    c.hosted.end();
    c.in.clear();
    c.out.clear();
    std::uint32_t last = active_.back();
    active_[c.active_index] = last;
    pool_[last].active_index = c.active_index;
    active_.pop_back();
    if (relay) --relay_active_;
    else --listeners_[std::size_t(c.service)].active;
    if (std::exchange(c.client_counted, false)) host_.release(c.service, c.remote_ip, now_ms());
    free_slots_.push_back(c.slot);
    // Last: the agent may open the next connection from the freed slot.
    if (relay && relay_) relay_->on_session_end(delivery, peer, results);
}

// ---- store replies and timers -----------------------------------------------------------------

void KernelServer::submit(Connection& c, apps::StoreRequest request) {
    backend_->submit(c.token(), std::move(request));
}

bool KernelServer::on_store_reply(std::uint64_t token, apps::StoreReply& reply) {
    std::uint32_t slot = apps::HostedSession::slot_of(token);
    if (slot >= capacity_) return false;
    Connection& c = pool_[slot];
    if (!c.open() || !c.hosted.answers(token)) return false;  // its client is gone
    c.session().on_store_reply(std::move(reply));
    offer_input(c);
    flush(c);
    return true;
}

std::uint32_t KernelServer::idle_seconds(const Connection& c) const {
    if (c.relay) return options_.relay_timeout;
    switch (c.service) {
    case Service::smtp: return options_.smtp_idle();
    case Service::pop3: return options_.pop3_idle();
    case Service::echo: return options_.echo_idle();
    }
    return 300;
}

void KernelServer::service_timers() {
    Clock::time_point now = Clock::now();
    if (now < next_timer_scan_) return;
    next_timer_scan_ = now + timer_scan_interval;
    std::vector<std::uint32_t> slots = active_;  // handlers may close connections
    for (std::uint32_t slot : slots) {
        Connection& c = pool_[slot];
        if (!c.open()) continue;
        if (c.wake_at <= now) {
            c.wake_at = Clock::time_point::max();
            c.session().on_wakeup();
            offer_input(c);
            flush(c);
            if (!c.open()) continue;
        }
        if (c.send_stalled_since != Clock::time_point::max() &&
            now - c.send_stalled_since >= std::chrono::seconds(options_.send_timeout)) {
            abort_stalled(c);
            continue;
        }
        if (now - c.last_activity < std::chrono::seconds(idle_seconds(c))) continue;
        if (c.closing) {  // the peer does not read what we owe it
            teardown(c, "send timeout");
            continue;
        }
        c.on_event("timeout", "idle");
        c.last_activity = now;
        c.session().on_idle_timeout();
        flush(c);
    }
}

// The peer has taken none of what we owe it for --send-timeout: reset the
// connection (SO_LINGER 0) rather than close it, so the kernel does not go
// on holding the unsent replies for a peer that reads nothing (nginx's
// reset_timedout_connection does the same).
void KernelServer::abort_stalled(Connection& c) {
    c.on_event("timeout", "send");
    linger reset{1, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    teardown(c, "send timeout");
}

// ---- the relay client's connections ------------------------------------------------

// The relay link (agent and DNS) lives beside the loop; its connections
// are the loop's own, from the relay's share of the pool.
void KernelServer::start_relay(store::MailStore& store, store::IoWorker& worker) {
    relay_ = std::make_unique<RelayLink>(options_, host_.config().smtp.instance_tag, relay_capacity_, store, worker,
                                         *this, log_);
    if (relay_->dns_fd() >= 0) {
        epoll_event ev{EPOLLIN, {.u64 = key_dns}};
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, relay_->dns_fd(), &ev);
    }
}

bool KernelServer::connect_relay(std::uint64_t delivery, std::uint32_t ip, std::uint16_t port,
                                 apps::OutboundMessage message) {
    std::string peer = format_ipv4(ip) + ":" + std::to_string(port);
    if (stopping_ || relay_active_ >= relay_capacity_ || free_slots_.empty()) {
        log_.event("relay", peer, "connect-failed", "no free relay connection");
        return false;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_.event("relay", peer, "connect-failed", errno_text());
        return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(ip);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (rc != 0 && errno != EINPROGRESS) {
        log_.event("relay", peer, "connect-failed", errno_text());
        ::close(fd);
        return false;
    }
    Connection& c = take_slot(fd, Service::smtp, true);
    ++relay_active_;
    c.connecting = rc != 0;
    c.relay_delivery = delivery;
    c.peer = apps::Peer{};
    c.peer.ip = ip;
    c.peer.port = port;
    c.peer.connection = next_connection_++;
    c.peer_text = peer;
    c.hosted.emplace<apps::SmtpClient>(client_config_, std::move(message), c, c, c, c);
    // EPOLLOUT reports the end of the non-blocking connect (connect(2)).
    c.writing = true;
    epoll_event ev{EPOLLIN | EPOLLOUT, {.u64 = c.slot}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    log_.debug(c.peer.connection, "New relay connection to " + peer);
    if (!c.connecting) finish_connect(c);
    return true;
}

void KernelServer::finish_connect(Connection& c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    apps::SmtpClient& client = *c.hosted.get<apps::SmtpClient>();
    if (err != 0) {
        c.on_event("connect-failed", std::strerror(err));
        client.on_connect_failed(std::strerror(err));
        teardown(c, "connect failed");
        return;
    }
    c.connecting = false;
    c.last_activity = Clock::now();
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.on_event("connect", "");
    client.start();
    flush(c);
}

}  // namespace bm::kernel
