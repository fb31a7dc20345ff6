#include "dataplane/common/daemon.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

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

RunAs find_user(const std::string& name) {
    std::vector<char> buf(16384);
    passwd entry{};
    passwd* found = nullptr;
    int err = getpwnam_r(name.c_str(), &entry, buf.data(), buf.size(), &found);
    if (err != 0) throw std::runtime_error("--user " + name + ": " + std::strerror(err));
    if (!found) throw std::runtime_error("--user " + name + ": no such user");
    if (found->pw_uid == 0) throw std::runtime_error("--user " + name + ": is root (uid 0); name an ordinary account");
    return RunAs{name, found->pw_uid, found->pw_gid};
}

void give_tree(const std::string& dir, const RunAs& user) {
    auto give = [&](const std::filesystem::path& path) {
        if (::lchown(path.c_str(), user.uid, user.gid) != 0)
            throw std::runtime_error("cannot give " + path.string() + " to user " + user.name + ": " +
                                     std::strerror(errno));
    };
    give(dir);
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) give(entry.path());
}

void drop_privileges(const RunAs& user) {
    auto fail = [&](const char* step) {
        throw std::runtime_error(std::string("--user ") + user.name + ": " + step + ": " + std::strerror(errno));
    };
    // Groups first: setuid would take the right to change them away.
    if (::initgroups(user.name.c_str(), user.gid) != 0) fail("initgroups");
    if (::setgid(user.gid) != 0) fail("setgid");
    if (::setuid(user.uid) != 0) fail("setuid");
    if (::setuid(0) == 0 || ::geteuid() == 0) {
        errno = EPERM;
        fail("root could be regained");
    }
    ::umask(077);
}

void require_writable(const std::string& dir, const char* what, const RunAs& user) {
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        throw std::runtime_error(std::string(what) + " " + dir + ": not writable by user " + user.name + " (" +
                                 std::strerror(errno) + "); chown -R " + user.name + " it");
}

}  // namespace bm
