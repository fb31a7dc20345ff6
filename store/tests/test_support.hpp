// Scratch directories and small file helpers for the store tests. Every
// test works in its own directory under /tmp, removed when it ends.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/mail_store.hpp"

namespace bm::store::test {

namespace fs = std::filesystem;

class TempDir {
public:
    TempDir() {
        std::string pattern = "/tmp/bm-store-test-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

private:
    std::string path_;
};

inline void make_maildir(const std::string& dir) {
    for (const char* sub : {"cur", "new", "tmp"}) fs::create_directories(dir + "/" + sub);
}

inline void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream all;
    all << in.rdbuf();
    return all.str();
}

// Sorted names of the entries of `dir` (empty if it does not exist).
inline std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); ++it)
        names.push_back(it->path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// One delivery made durable at once, as the I/O worker's batch would.
inline Status deliver_now(MailStore& store, const Delivery& d) {
    CommitGroup group;
    Status status = Status::temp_failure;
    store.deliver(d, group, &status);
    group.flush();
    return status;
}

// The whole text of a message, read piece by piece as POP3 RETR/TOP does.
inline Status read_whole(MailStore& store, std::uint32_t handle, std::uint32_t index,
                         std::int32_t top_lines, std::string& text,
                         std::uint32_t max_bytes = 64 * 1024) {
    text.clear();
    std::string piece;
    for (bool end = false; !end;) {
        Status s = store.read_message(handle, index, top_lines, text.size(), max_bytes, piece, end);
        if (s != Status::ok) return s;
        if (!end && piece.empty()) return Status::temp_failure;  // no progress
        text += piece;
    }
    return Status::ok;
}

}  // namespace bm::store::test
