// --daemon and --pid-file: detach from the terminal, and refuse to run twice
// on one pid file (an flock held for the life of the process). --user: run
// as an ordinary account once the ports and files are open.
#pragma once

#include <sys/types.h>

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

// --user NAME, as Postfix's and Dovecot's masters do: everything that needs
// root (ports, the DPDK port or TAP, the log and pid files) is opened first,
// then the process becomes NAME for good, before the first client is served.
struct RunAs {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
};
// Throws std::runtime_error "--user NAME: no such user" (exit 2 at start).
RunAs find_user(const std::string& name);
// chown -R of a directory the server owns (the queue dir, which it may have
// just created as root), so it stays usable after the drop.
void give_tree(const std::string& dir, const RunAs& user);
// initgroups, setgid, setuid, then umask 077 (mail and queue files 0600,
// dirs 0700); throws if any step fails or root could be regained.
void drop_privileges(const RunAs& user);
// After the drop: throws naming the dir and the user when the server could
// not create files in it (so it fails at start, not at the first delivery).
void require_writable(const std::string& dir, const char* what, const RunAs& user);

}  // namespace bm
