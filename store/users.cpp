#include "store/users.hpp"

#include <cctype>
#include <cerrno>
#include <crypt.h>
#include <memory>
#include <stdexcept>
#include <sys/stat.h>

#include "store/digest.hpp"
#include "store/file_io.hpp"
#include "store/log.hpp"

namespace bm::store {
namespace {

// A stored password starting with '$' is a crypt(3) hash in the modular
// format ("$6$salt$...", "$y$..."); anything else is the clear password.
bool is_crypt_hash(std::string_view stored) { return stored.starts_with('$'); }

bool crypt_matches(std::string_view password, const std::string& hash) {
    if (password.find('\0') != std::string_view::npos) return false;
    // struct crypt_data is ~32 KiB: too big for the worker's stack habits.
    auto data = std::make_unique<crypt_data>();
    std::string phrase(password);
    const char* result = ::crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof *data);
    // libxcrypt may return a "*0"-style failure token instead of NULL;
    // it never equals a valid hash, so the comparison rejects it too.
    return result != nullptr && equal_constant_time(result, hash);
}

std::string lower_ascii(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

Users::Users(const std::string& path) {
    std::string text;
    if (int err = read_file(path, text); err != 0)
        throw std::runtime_error("users file " + path + ": cannot read: " + errno_text(err));
    std::size_t line_no = 0;
    std::string_view rest = text;
    while (!rest.empty()) {
        auto eol = rest.find('\n');
        std::string_view line = rest.substr(0, eol);
        rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
        ++line_no;
        if (line.ends_with('\r')) line.remove_suffix(1);
        if (line.empty() || line.starts_with('#')) continue;
        auto colon = line.find(':');
        if (colon == 0 || colon == std::string_view::npos) {
            log_line("users file " + path + ":" + std::to_string(line_no) +
                     ": no \"user:password\", line ignored");
            continue;
        }
        // The first line for a user wins, as with /etc/passwd lookups.
        std::string_view stored = line.substr(colon + 1);
        if (dummy_hash_.empty() && is_crypt_hash(stored)) dummy_hash_ = std::string(stored);
        entries_.emplace(std::string(line.substr(0, colon)), std::string(stored));
    }
}

bool Users::check_password(std::string_view user, std::string_view password) const {
    auto it = entries_.find(user);
    if (it == entries_.end()) {
        // Same work as a wrong password, so timing does not reveal users
        // (the result is thrown away: this user does not exist).
        if (!dummy_hash_.empty()) crypt_matches(password, dummy_hash_);
        else equal_constant_time(password, "no such user");
        return false;
    }
    const std::string& stored = it->second;
    // An empty password field locks the account rather than opening it.
    if (stored.empty()) return false;
    if (is_crypt_hash(stored)) return crypt_matches(password, stored);
    return equal_constant_time(password, stored);
}

bool Users::check_apop(std::string_view user, std::string_view timestamp,
                       std::string_view hex_digest) const {
    auto it = entries_.find(user);
    // APOP needs the shared secret itself (RFC 1939 §7), not a hash of it.
    if (it == entries_.end() || it->second.empty() || is_crypt_hash(it->second)) return false;
    std::string expected = hex_md5({timestamp, it->second});
    return equal_constant_time(lower_ascii(hex_digest), expected);
}

UsersFile::UsersFile(std::string path) : path_(std::move(path)) { current(); }

const Users& UsersFile::current() {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
        if (stamp_ == Stamp{}) throw std::runtime_error("users file " + path_ + ": " + errno_text(errno));
        return users_;
    }
    Stamp stamp{static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                static_cast<std::int64_t>(st.st_size), static_cast<std::int64_t>(st.st_ino)};
    if (stamp == stamp_ && !reload_requested_.exchange(false, std::memory_order_relaxed)) return users_;
    try {
        users_ = Users(path_);
        stamp_ = stamp;
    } catch (const std::runtime_error& e) {
        if (stamp_ == Stamp{}) throw;
        log_line(std::string(e.what()) + "; keeping the previous users");
    }
    return users_;
}

}  // namespace bm::store
