#include "store/event_fd.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace bm::store {

int make_eventfd(int flags, const char* owner) {
    int fd = ::eventfd(0, EFD_CLOEXEC | flags);
    if (fd < 0) throw std::runtime_error(std::string(owner) + ": eventfd: " + std::strerror(errno));
    return fd;
}

void signal_eventfd(int fd) {
    std::uint64_t one = 1;
    while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {}
}

void drain_eventfd(int fd) {
    std::uint64_t count;
    while (::read(fd, &count, sizeof count) < 0 && errno == EINTR) {}
}

bool take_one_write(int fd) {
    std::uint64_t count;
    ssize_t n;
    while ((n = ::read(fd, &count, sizeof count)) < 0 && errno == EINTR) {}
    return n == sizeof count;
}

}  // namespace bm::store
