#include "relay/control/socket_address.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>

namespace bm::control {

namespace {

void set_path(sockaddr_un& addr, const std::string& path) {
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
}

}  // namespace

SocketAddress socket_address(const std::string& path) {
    SocketAddress a;
    if (path.size() < sizeof a.addr.sun_path) {
        set_path(a.addr, path);
        return a;
    }
    std::size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
    a.dir = store::UniqueFd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!a.dir.valid()) {
        a.error = dir + ": " + std::strerror(errno);
        return a;
    }
    std::string short_path = "/proc/self/fd/" + std::to_string(a.dir.get()) + "/" + name;
    if (short_path.size() >= sizeof a.addr.sun_path) {
        a.error = "socket name too long: " + name;
        return a;
    }
    set_path(a.addr, short_path);
    return a;
}

}  // namespace bm::control
