// The AF_UNIX address of the control socket, for bind (server) and connect
// (tool). sun_path holds 107 octets and a queue dir may be deeper than
// that: a longer path is reached through its directory opened with O_PATH,
// as /proc/self/fd/N/.control (the name is resolved by the calling
// process, so the socket lands in the real directory).
#pragma once

#include <string>
#include <sys/un.h>

#include "store/file_io.hpp"

namespace bm::control {

struct SocketAddress {
    sockaddr_un addr{};
    store::UniqueFd dir;  // keep open until bind/connect has returned
    std::string error;    // set when there is no address (the directory cannot be opened)
    bool valid() const { return error.empty(); }
};

SocketAddress socket_address(const std::string& path);

}  // namespace bm::control
