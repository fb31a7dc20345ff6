#include "store/maildir.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "store/log.hpp"

namespace bm::store::maildir {
namespace {

std::atomic<std::uint64_t> delivery_counter{0};

std::uint64_t leading_number(std::string_view text) {
    std::uint64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

bool is_regular(const std::string& dir, const dirent* entry) {
    if (entry->d_type == DT_REG) return true;
    if (entry->d_type != DT_UNKNOWN) return false;
    struct stat st {};
    std::string path = dir + "/" + entry->d_name;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Appends the regular files of one subdirectory; dot files are not mail.
int list_subdir(const std::string& subdir, std::vector<Message>& out) {
    DIR* d = ::opendir(subdir.c_str());
    if (d == nullptr) return errno;
    errno = 0;
    while (const dirent* entry = ::readdir(d)) {
        if (entry->d_name[0] == '.' || !is_regular(subdir, entry)) continue;
        out.push_back({subdir + "/" + entry->d_name, std::string(base_name(entry->d_name))});
    }
    int err = errno;
    ::closedir(d);
    return err;
}

}  // namespace

bool is_maildir(const std::string& dir) {
    return is_directory(dir + "/new") && is_directory(dir + "/cur") && is_directory(dir + "/tmp");
}

std::string safe_hostname(std::string_view hostname) {
    std::string out;
    for (char c : hostname) {
        if (c == '/') out += "\\057";
        else if (c == ':') out += "\\072";
        else out.push_back(c);
    }
    return out.empty() ? "localhost" : out;
}

std::string unique_name(std::string_view hostname, std::uint64_t size) {
    timeval now{};
    ::gettimeofday(&now, nullptr);
    char prefix[96];
    std::snprintf(prefix, sizeof prefix, "%lld.M%06ldP%dQ%llu.",
                  static_cast<long long>(now.tv_sec), static_cast<long>(now.tv_usec),
                  static_cast<int>(::getpid()),
                  static_cast<unsigned long long>(delivery_counter.fetch_add(1) + 1));
    return prefix + safe_hostname(hostname) + ",S=" + std::to_string(size);
}

Status stage_delivery(const std::string& dir, std::string_view hostname,
                      const MessageParts& message, StagedFile& staged) {
    std::string name = unique_name(hostname, message.size());
    staged.tmp_path = dir + "/tmp/" + name;
    staged.final_path = dir + "/new/" + name;
    staged.dir = dir + "/new";
    if (int err = create_with_message(staged.tmp_path, {}, message, staged.fd); err != 0) {
        log_line("deliver to " + staged.tmp_path + ": " + errno_text(err));
        staged.tmp_path.clear();
        return status_from_errno(err);
    }
    return Status::ok;
}

std::string_view base_name(std::string_view file_name) {
    return file_name.substr(0, file_name.find(':'));
}

std::optional<std::uint64_t> size_from_name(std::string_view file_name) {
    std::string_view base = base_name(file_name);
    std::optional<std::uint64_t> s_size, w_size;
    std::size_t comma = base.find(',');
    while (comma != std::string_view::npos) {
        std::size_t next = base.find(',', comma + 1);
        std::string_view field = base.substr(comma + 1, next == std::string_view::npos
                                                            ? std::string_view::npos
                                                            : next - comma - 1);
        std::uint64_t value = 0;
        bool sized = field.size() > 2 && field[1] == '=';
        if (sized) {
            auto [end, ec] = std::from_chars(field.data() + 2, field.data() + field.size(), value);
            sized = ec == std::errc{} && end == field.data() + field.size();
        }
        if (sized && field[0] == 'S') s_size = value;
        if (sized && field[0] == 'W') w_size = value;
        comma = next;
    }
    // W= is the size with CRLF line ends, which is what POP3 sends; S= is
    // the file size, the same thing for the CRLF files we write.
    return w_size ? w_size : s_size;
}

Status list_messages(const std::string& dir, std::vector<Message>& out) {
    out.clear();
    for (const char* sub : {"/new", "/cur"}) {
        if (int err = list_subdir(dir + sub, out); err != 0) {
            log_line("list " + dir + sub + ": " + errno_text(err));
            return status_from_errno(err);
        }
    }
    std::sort(out.begin(), out.end(), [](const Message& a, const Message& b) {
        auto ta = leading_number(a.base), tb = leading_number(b.base);
        return ta != tb ? ta < tb : a.base < b.base;
    });
    return Status::ok;
}

std::optional<std::string> find_by_base(const std::string& dir, std::string_view base) {
    std::vector<Message> all;
    for (const char* sub : {"/new", "/cur"}) list_subdir(dir + sub, all);
    for (auto& m : all)
        if (m.base == base) return m.path;
    return std::nullopt;
}

}  // namespace bm::store::maildir
