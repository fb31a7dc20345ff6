#include "relay/control/client.hpp"

#include "relay/control/socket_address.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

namespace bm::control {

namespace {

ClientResult failed(ClientResult::Kind kind, std::string why) {
    ClientResult r;
    r.kind = kind;
    r.error = std::move(why);
    return r;
}

}  // namespace

ClientResult ask_server(const std::string& queue_dir, const Request& request, int timeout_s) {
    std::string path = socket_path(queue_dir);
    SocketAddress address = socket_address(path);
    if (!address.valid()) {
        // No such queue dir: no server can be answering there.
        return failed(ClientResult::Kind::not_running, "the server is not running (" + address.error + ")");
    }
    sockaddr_un& addr = address.addr;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return failed(ClientResult::Kind::failed, std::string("socket: ") + std::strerror(errno));
    timeval tv{timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        ::close(fd);
        if (err == ENOENT || err == ECONNREFUSED)
            return failed(ClientResult::Kind::not_running,
                          "the server is not running (nothing answers on " + path + ")");
        return failed(ClientResult::Kind::failed, path + ": " + std::strerror(err));
    }
    std::string line = encode(request);
    if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
        int err = errno;
        ::close(fd);
        return failed(ClientResult::Kind::failed, std::string("sending the request: ") + std::strerror(err));
    }
    std::string in;
    char buffer[max_line];
    while (in.find('\n') == std::string::npos && in.size() < max_line) {
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : 0;
            ::close(fd);
            return failed(ClientResult::Kind::failed,
                          err == EAGAIN ? "no reply from the server within " + std::to_string(timeout_s) + " s"
                                        : "the server closed the connection without a reply");
        }
        in.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto reply = decode_reply(in.substr(0, in.find('\n')));
    if (!reply) return failed(ClientResult::Kind::failed, "not a reply: " + in.substr(0, in.find('\n')));
    ClientResult r;
    r.kind = ClientResult::Kind::replied;
    r.reply = std::move(*reply);
    return r;
}

}  // namespace bm::control
