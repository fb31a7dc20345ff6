// The users file: "user:password" lines, the password in clear (needed for
// APOP) or a crypt(3) hash ("$6$...", "$y$..."). Blank lines and lines
// starting with '#' are ignored.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace bm::store {

class Users {
public:
    Users() = default;  // no file: every login is refused
    // Throws std::runtime_error naming the file and the reason.
    explicit Users(const std::string& path);

    // An unknown user costs what a known one does: the password is run
    // through crypt(3) against a stored hash (the file's first), so the
    // answer's timing does not tell which users exist.
    bool check_password(std::string_view user, std::string_view password) const;
    // RFC 1939 §7: digest = hex MD5(timestamp + password); clear passwords only.
    bool check_apop(std::string_view user, std::string_view timestamp,
                    std::string_view hex_digest) const;
    bool empty() const { return entries_.empty(); }

private:
    std::map<std::string, std::string, std::less<>> entries_;
    std::string dummy_hash_;  // the first crypt hash of the file: same scheme, same cost
};

// The users file as the server keeps it: read again when it changes, so
// adding a user or changing a password needs no restart. A file that
// became unreadable keeps the last good contents (and says so).
class UsersFile {
public:
    // Throws std::runtime_error when the first read fails.
    explicit UsersFile(std::string path);
    const Users& current();  // reloaded first if the file changed (or asked to be)
    // SIGHUP: the next current() reads the file even if it looks unchanged.
    // From any thread.
    void request_reload() { reload_requested_.store(true, std::memory_order_relaxed); }

private:
    struct Stamp {
        std::int64_t mtime_ns = 0, size = 0, inode = 0;
        bool operator==(const Stamp&) const = default;
    };
    std::string path_;
    Users users_;
    Stamp stamp_;
    std::atomic<bool> reload_requested_{false};
};

}  // namespace bm::store
