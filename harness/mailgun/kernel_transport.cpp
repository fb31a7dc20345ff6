#include "harness/mailgun/kernel_transport.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace bm::mailgun {

namespace {
// After its session ended, a connection waits this long at most for the
// server's FIN, so the server (which closes after 221 / +OK) is the side
// that keeps TIME-WAIT, not our ephemeral ports.
constexpr std::uint64_t linger_ns = 2'000'000'000;
constexpr std::size_t read_chunk = 64 * 1024;

ErrorKind connect_error_kind(int error) {
    if (error == ECONNREFUSED) return ErrorKind::connect_refused;
    if (error == ETIMEDOUT) return ErrorKind::timeout;
    return ErrorKind::connect_failed;
}

// Many concurrent sessions need many descriptors: raise the soft limit.
void raise_descriptor_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}
}  // namespace

struct KernelTransport::Connection final : apps::Transport {
    void send(std::string_view bytes) override { out.append(bytes); }
    std::size_t send_room() const override {
        std::size_t queued = out.size() - out_head;
        return queued < send_bound ? send_bound - queued : 0;
    }
    void close() override { closing = true; }
    void wake_after(std::chrono::milliseconds) override {}  // no client machine asks for it

    static constexpr std::size_t send_bound = 1 << 20;

    std::uint64_t key() const { return (std::uint64_t{generation} << 32) | index; }

    std::uint32_t index = 0;
    std::uint32_t generation = 0;
    int fd = -1;
    Launch launch;
    std::unique_ptr<ClientSession> session;
    std::string out;
    std::size_t out_head = 0;
    bool connecting = false;
    bool closing = false;  // the session asked to close once `out` is sent
    bool writing = false;  // EPOLLOUT armed
    std::uint64_t deadline = 0;
};

KernelTransport::KernelTransport(const Workload& workload, Tally& tally)
    : workload_(workload), tally_(tally), timeout_ns_(static_cast<std::uint64_t>(workload.timeout_s * 1e9)) {
    raise_descriptor_limit();
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

KernelTransport::~KernelTransport() {
    for (auto& c : pool_)
        if (c->fd >= 0) ::close(c->fd);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void KernelTransport::run(Scenario& scenario) {
    scenario_ = &scenario;
    std::uint64_t start = clock_.now_ns();
    scenario.begin(start);
    std::uint64_t hard_deadline = start + static_cast<std::uint64_t>(workload_.time_limit_s * 1e9);
    tally_.started_ns = start;
    tally_.ended_ns = start;
    epoll_event events[256];
    for (;;) {
        std::uint64_t now = clock_.now_ns();
        if (now >= hard_deadline) {
            stop_all(now);
            scenario.on_time_limit();
            break;
        }
        launch_due(now);
        if (open_.empty() && (scenario.exhausted(now) || scenario.next_launch_time() == UINT64_MAX)) break;
        int n = epoll_wait(epoll_fd_, events, 256, wait_ms(now, hard_deadline));
        if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
        now = clock_.now_ns();
        for (int i = 0; i < n; ++i) on_event(events[i].data.u64, events[i].events, now);
        expire(now);
    }
    scenario_ = nullptr;
}

int KernelTransport::wait_ms(std::uint64_t now, std::uint64_t hard_deadline) const {
    std::uint64_t next = std::min(hard_deadline, scenario_->next_launch_time());
    for (std::uint32_t i : open_) next = std::min(next, pool_[i]->deadline);
    if (next <= now) return 0;
    return static_cast<int>(std::min<std::uint64_t>((next - now + 999'999) / 1'000'000, 100));
}

void KernelTransport::launch_due(std::uint64_t now) {
    while (auto launch = scenario_->next_launch(now)) open(*launch, now);
}

void KernelTransport::open(const Launch& launch, std::uint64_t now) {
    if (free_.empty()) {
        pool_.push_back(std::make_unique<Connection>());
        pool_.back()->index = static_cast<std::uint32_t>(pool_.size() - 1);
        free_.push_back(pool_.back()->index);
    }
    Connection& c = *pool_[free_.back()];
    free_.pop_back();
    open_.push_back(c.index);
    c.launch = launch;
    c.connecting = true;
    c.deadline = now + timeout_ns_;
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
        scenario_->on_connect_failed(launch, ErrorKind::connect_failed);
        return release(c, now);
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(launch.port);
    to.sin_addr.s_addr = htonl(launch.ip);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0 && errno != EINPROGRESS) {
        scenario_->on_connect_failed(launch, connect_error_kind(errno));
        return release(c, now);
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = c.key();
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev);
    c.writing = true;
}

void KernelTransport::on_event(std::uint64_t key, std::uint32_t events, std::uint64_t now) {
    auto index = static_cast<std::uint32_t>(key);
    if (index >= pool_.size()) return;
    Connection& c = *pool_[index];
    if (c.key() != key || c.fd < 0) return;  // released earlier in this batch
    if (c.connecting) return on_connected(c, now);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c, now);
    if (c.fd >= 0 && (events & EPOLLOUT)) flush(c, now);
}

void KernelTransport::on_connected(Connection& c, std::uint64_t now) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
    if (error != 0) {
        scenario_->on_connect_failed(c.launch, connect_error_kind(error));
        return release(c, now);
    }
    c.connecting = false;
    c.deadline = now + timeout_ns_;
    c.session = scenario_->open_session(c.launch, c, clock_);
    c.session->start();
    watch(c, true, false);
    after_session_call(c, now);
}

void KernelTransport::on_readable(Connection& c, std::uint64_t now) {
    static char buffer[read_chunk];
    // A few reads per event, so one busy connection cannot starve others.
    for (int round = 0; round < 4 && c.fd >= 0; ++round) {
        ssize_t n = recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {  // FIN, or reset
            if (!c.session->ended()) c.session->on_peer_closed();
            return release(c, now);
        }
        c.deadline = now + timeout_ns_;
        if (c.session->ended()) continue;  // lingering for the FIN: ignore late bytes
        c.session->on_bytes(std::string_view(buffer, static_cast<std::size_t>(n)));
        after_session_call(c, now);
    }
}

// What a session call may have asked: bytes to send, the end.
void KernelTransport::after_session_call(Connection& c, std::uint64_t now) {
    flush(c, now);
    if (c.fd >= 0 && c.session->ended() && !c.writing)
        c.deadline = std::min(c.deadline, now + std::min(linger_ns, timeout_ns_));
}

void KernelTransport::flush(Connection& c, std::uint64_t now) {
    bool progressed = false;
    while (c.out_head < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_head, c.out.size() - c.out_head, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n < 0) {  // EPIPE, ECONNRESET: the server is gone
            if (!c.session->ended()) c.session->on_peer_closed();
            return release(c, now);
        }
        c.out_head += static_cast<std::size_t>(n);
        progressed = true;
    }
    if (progressed) c.deadline = std::max(c.deadline, now + timeout_ns_);
    bool pending = c.out_head < c.out.size();
    if (!pending) {
        c.out.clear();
        c.out_head = 0;
    }
    if (pending != c.writing) watch(c, true, pending);
}

void KernelTransport::watch(Connection& c, bool read, bool write) {
    epoll_event ev{};
    ev.events = (read ? EPOLLIN : 0u) | (write ? EPOLLOUT : 0u);
    ev.data.u64 = c.key();
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.writing = write;
}

void KernelTransport::release(Connection& c, std::uint64_t now) {
    if (c.fd >= 0) {
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
    }
    c.session.reset();
    c.out.clear();
    c.out_head = 0;
    c.connecting = c.closing = c.writing = false;
    ++c.generation;
    open_.erase(std::find(open_.begin(), open_.end(), c.index));
    free_.push_back(c.index);
    tally_.ended_ns = now;
    scenario_->on_closed(c.launch, now);
}

// Connections past their deadline: a connect or a reply that did not come
// in time (counted by the session), or a finished session whose server
// has not closed yet (nothing to count).
void KernelTransport::expire(std::uint64_t now) {
    for (std::size_t i = 0; i < open_.size();) {
        Connection& c = *pool_[open_[i]];
        if (c.deadline > now) {
            ++i;
            continue;
        }
        if (c.connecting) scenario_->on_connect_failed(c.launch, ErrorKind::timeout);
        else if (!c.session->ended()) c.session->on_idle_timeout();
        release(c, now);  // removes open_[i]
    }
}

void KernelTransport::stop_all(std::uint64_t now) {
    while (!open_.empty()) {
        Connection& c = *pool_[open_.back()];
        if (c.connecting) scenario_->on_connect_failed(c.launch, ErrorKind::unfinished);
        else if (!c.session->ended()) c.session->on_shutdown();
        release(c, now);
    }
}

}  // namespace bm::mailgun
