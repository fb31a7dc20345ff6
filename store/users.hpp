// The users file: "user:password" lines, the password in clear (needed for
// APOP) or a crypt(3) hash ("$6$...", "$y$..."). Blank lines and lines
// starting with '#' are ignored.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace bm::store {

class Users {
public:
    Users() = default;  // no file: every login is refused
    // Throws std::runtime_error naming the file and the reason.
    explicit Users(const std::string& path);

    bool check_password(std::string_view user, std::string_view password) const;
    // RFC 1939 §7: digest = hex MD5(timestamp + password); clear passwords only.
    bool check_apop(std::string_view user, std::string_view timestamp,
                    std::string_view hex_digest) const;
    bool empty() const { return entries_.empty(); }

private:
    std::map<std::string, std::string, std::less<>> entries_;
};

}  // namespace bm::store
