#include "dataplane/common/daemon.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/file.h>
#include <unistd.h>

namespace bm {

PidFile::~PidFile() {
    if (fd_ < 0) return;
    unlink(path_.c_str());  // only the holder of the lock removes it
    close(fd_);
}

void PidFile::lock(const std::string& path) {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open pid file " + path + ": " + std::strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = {};
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        close(fd);
        std::string pid = n > 0 ? std::string(buf, strnlen(buf, sizeof buf)) : "unknown";
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        throw std::runtime_error("another instance (pid " + pid + ") holds pid file " + path);
    }
    fd_ = fd;
    path_ = path;
}

void PidFile::write_pid() {
    if (fd_ < 0) return;
    std::string pid = std::to_string(getpid()) + "\n";
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
        throw std::runtime_error("cannot write pid file " + path_ + ": " + std::strerror(errno));
    fsync(fd_);
}

int daemonize() {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid > 0) {
        close(ready[1]);
        char byte = 0;
        ssize_t n;
        do n = read(ready[0], &byte, 1); while (n < 0 && errno == EINTR);
        _exit(n == 1 ? 0 : 2);
    }
    close(ready[0]);
    setsid();
    pid = fork();  // not a session leader: can never reacquire a terminal
    if (pid < 0) _exit(2);
    if (pid > 0) _exit(0);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2) close(null);
    }
    return ready[1];
}

void daemon_ready(int fd) {
    if (fd < 0) return;
    char byte = 1;
    if (write(fd, &byte, 1) != 1) { /* the parent is gone; nothing to tell */ }
    close(fd);
}

}  // namespace bm
