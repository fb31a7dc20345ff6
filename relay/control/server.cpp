#include "relay/control/server.hpp"

#include "relay/control/socket_address.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace bm::control {
namespace {

constexpr std::time_t client_timeout = 30;
constexpr int max_clients = 16;

// A socket file nobody listens on is a leftover of a crash.
bool someone_listens(const sockaddr_un& addr) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return live;
}

// Only root and the server's own user may change the queue.
bool peer_allowed(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
    return cred.uid == 0 || cred.uid == ::geteuid();
}

}  // namespace

std::unique_ptr<ControlServer> ControlServer::open(const std::string& queue_dir, ControlHandler& handler,
                                                   std::string& error) {
    std::string path = socket_path(queue_dir);
    SocketAddress address = socket_address(path);
    if (!address.valid()) {
        error = "control socket " + path + ": " + address.error;
        return nullptr;
    }
    const sockaddr_un& addr = address.addr;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            error = path + " exists and is not a socket";
            return nullptr;
        }
        if (someone_listens(addr)) {
            error = "another server answers on " + path;
            return nullptr;
        }
        ::unlink(path.c_str());
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("control socket: ") + std::strerror(errno);
        return nullptr;
    }
    // The queue dir is 0700, so the moment between bind and chmod opens
    // nothing to other users.
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::chmod(path.c_str(), 0600) != 0 || ::listen(fd, max_clients) != 0) {
        error = "control socket " + path + ": " + std::strerror(errno);
        ::close(fd);
        return nullptr;
    }
    return std::unique_ptr<ControlServer>(new ControlServer(fd, path, handler));
}

ControlServer::~ControlServer() {
    while (!clients_.empty()) close_client(clients_.begin()->first);
    ::close(fd_);
    ::unlink(path_.c_str());
}

void ControlServer::poll(std::time_t now) {
    accept_clients(now);
    std::vector<std::uint64_t> done;
    for (auto& [id, c] : clients_) {
        if (!c.asked) read_request(id, c);
        if (c.replied) {
            if (write_reply(c)) done.push_back(id);
        } else if (!c.asked && now - c.since > client_timeout) done.push_back(id);
    }
    for (std::uint64_t id : done) close_client(id);
}

void ControlServer::accept_clients(std::time_t now) {
    while (clients_.size() < std::size_t(max_clients)) {
        int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;  // EAGAIN: nobody waits
        if (!peer_allowed(fd)) {
            std::string line = encode(Reply{Outcome::error, "permission denied"});
            ssize_t ignored = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
            ::close(fd);
            continue;
        }
        Client& c = clients_[next_client_++];
        c.fd = fd;
        c.since = now;
    }
}

void ControlServer::read_request(std::uint64_t id, Client& c) {
    char buffer[max_line];
    for (;;) {
        ssize_t n = ::recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) {
                c.asked = c.replied = true;
                c.out = encode(Reply{Outcome::error, "no request"});
            }
            break;
        }
        c.in.append(buffer, static_cast<std::size_t>(n));
        if (c.in.find('\n') != std::string::npos || c.in.size() >= max_line) break;
    }
    if (c.asked) return;
    auto eol = c.in.find('\n');
    if (eol == std::string::npos && c.in.size() < max_line) return;  // more to come
    c.asked = true;
    std::string line = c.in.substr(0, eol == std::string::npos ? c.in.size() : eol);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string why;
    auto request = decode_request(line, &why);
    if (!request) {
        c.replied = true;
        c.out = encode(Reply{Outcome::error, why});
        return;
    }
    handler_.on_control(id, *request);  // may reply() at once
}

void ControlServer::reply(std::uint64_t client, const Reply& reply) {
    auto it = clients_.find(client);
    if (it == clients_.end() || it->second.replied) return;  // gone, or answered
    it->second.replied = true;
    it->second.out = encode(reply);
    write_reply(it->second);  // closed by the next poll()
}

bool ControlServer::write_reply(Client& c) {
    while (!c.out.empty()) {
        ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            if (errno == EAGAIN) return false;
            c.out.clear();  // a peer that left: done with it
            return true;
        }
        c.out.erase(0, static_cast<std::size_t>(n));
    }
    return true;
}

void ControlServer::close_client(std::uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    ::close(it->second.fd);
    clients_.erase(it);
}

}  // namespace bm::control
