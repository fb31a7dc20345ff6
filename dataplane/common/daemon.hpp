// --daemon and --pid-file: detach from the terminal, and refuse to run twice
// on one pid file (an flock held for the life of the process).
#pragma once

#include <string>

namespace bm {

class PidFile {
public:
    PidFile() = default;
    ~PidFile();
    // Takes the lock; throws std::runtime_error naming the running pid.
    void lock(const std::string& path);
    // Writes our pid (call after daemonizing, so it is the daemon's).
    void write_pid();

private:
    int fd_ = -1;
    std::string path_;
};

// fork, setsid, fork again; stdio to /dev/null. The original process waits
// until the daemon calls daemon_ready() (exit 0) or dies first (exit 2), so
// whoever started it sees the pid file and open ports once it returns.
// Returns the fd to pass to daemon_ready(). Working directory is kept: the
// options may hold relative paths.
int daemonize();
void daemon_ready(int fd);

}  // namespace bm
