#include "store/queue.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "store/log.hpp"

namespace bm::store::queue {
namespace {

constexpr std::string_view magic = "baremail-queue 1";
// A header is a few lines per recipient; anything longer is not ours.
constexpr std::size_t max_header = 16 * 1024 * 1024;
constexpr std::size_t header_piece = 4096;

std::atomic<std::uint64_t> name_counter{0};

// Header values are single lines: a CR or LF would start a forged field.
std::string one_line(std::string_view value) {
    std::string out(value);
    for (char& c : out)
        if (c == '\r' || c == '\n') c = ' ';
    return out;
}

bool safe_file_name(std::string_view name) {
    if (name.empty() || name.size() > 200 || name.front() == '.' || name == "tmp") return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_';
    });
}

std::string fresh_name() {
    timeval now{};
    ::gettimeofday(&now, nullptr);
    char name[80];
    std::snprintf(name, sizeof name, "%lld.%06ld.%d.%llu", static_cast<long long>(now.tv_sec),
                  static_cast<long>(now.tv_usec), static_cast<int>(::getpid()),
                  static_cast<unsigned long long>(name_counter.fetch_add(1) + 1));
    return name;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

template <typename Int>
bool parse_number(std::string_view text, Int& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

std::optional<RecipientState> state_from_name(std::string_view name) {
    if (name == "pending") return RecipientState::pending;
    if (name == "sent") return RecipientState::sent;
    if (name == "failed") return RecipientState::failed;
    return std::nullopt;
}

// Applies one "key: value" header line; false if it is malformed.
bool apply_field(std::string_view key, std::string_view value, Entry& e) {
    if (key == "id") e.id = value;
    else if (key == "sender") e.sender = value;
    else if (key == "created") return parse_number(value, e.created);
    else if (key == "attempts") return parse_number(value, e.attempts);
    else if (key == "next-try") return parse_number(value, e.next_try);
    else if (key == "held") e.held = value == "1";
    else if (key == "warned") e.warned = value == "1";
    else if (key == "diag") {
        if (e.recipients.empty()) return false;
        e.recipients.back().diagnostic = value;
    } else if (key == "rcpt") {
        auto space = value.find(' ');
        if (space == std::string_view::npos) return false;
        auto state = state_from_name(value.substr(0, space));
        if (!state || space + 1 >= value.size()) return false;
        e.recipients.push_back({*state, std::string(value.substr(space + 1)), {}});
    }
    return true;
}

std::optional<Entry> fail(std::string* error, std::string reason) {
    if (error) *error = std::move(reason);
    return std::nullopt;
}

Status stage_file(const std::string& queue_dir, const Entry& entry, const MessageParts& content,
                  StagedFile& staged) {
    staged.tmp_path = queue_dir + "/tmp/" + entry.name + "." + fresh_name();
    staged.final_path = queue_dir + "/" + entry.name;
    staged.dir = queue_dir;
    if (int err = create_with_message(staged.tmp_path, format_header(entry), content, staged.fd);
        err != 0) {
        log_line("queue file " + staged.tmp_path + ": " + errno_text(err));
        staged.tmp_path.clear();
        return status_from_errno(err);
    }
    return Status::ok;
}

// The header lines through the last one's LF (the blank line excluded).
std::optional<Entry> parse_header(std::string_view header, std::string* error) {
    Entry e;
    bool first = true;
    while (!header.empty()) {
        auto eol = header.find('\n');
        std::string_view line = header.substr(0, eol);
        header.remove_prefix(eol + 1);
        if (first) {
            if (line != magic) return fail(error, "not a baremail queue file (version 1)");
            first = false;
            continue;
        }
        auto colon = line.find(": ");
        std::string_view key = line.substr(0, colon);
        std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 2);
        if (colon == std::string_view::npos && line.ends_with(':')) key.remove_suffix(1);
        if (!apply_field(key, value, e)) return fail(error, "bad line: " + std::string(line));
    }
    if (e.recipients.empty()) return fail(error, "no recipients");
    return e;
}

// Reads the header of an open queue file in small pieces up to its blank
// line: `header` gets the lines through the last LF, `body_offset` where
// the content starts. EBADMSG when there is no blank line.
int read_header(int fd, std::string& header, std::uint64_t& body_offset) {
    header.clear();
    char buffer[header_piece];
    for (;;) {
        ssize_t n = ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(header.size()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        std::size_t from = header.empty() ? 0 : header.size() - 1;
        header.append(buffer, static_cast<std::size_t>(n));
        if (auto end = header.find("\n\n", from); end != std::string::npos) {
            header.resize(end + 1);
            body_offset = end + 2;
            return 0;
        }
        if (n == 0 || header.size() > max_header) return EBADMSG;
    }
}

Status malformed(const std::string& path, const std::string& why) {
    log_line("queue file " + path + ": " + why);
    return Status::permanent_failure;
}

}  // namespace

std::string_view state_name(RecipientState state) {
    switch (state) {
        case RecipientState::pending: return "pending";
        case RecipientState::sent: return "sent";
        case RecipientState::failed: return "failed";
    }
    return "pending";
}

std::string format(const Entry& e) { return format_header(e) + e.content; }

std::string format_header(const Entry& e) {
    std::string out;
    out.append(magic).append("\n");
    out.append("id: ").append(one_line(e.id)).append("\n");
    out.append("created: ").append(std::to_string(e.created)).append("\n");
    out.append("sender: ").append(one_line(e.sender)).append("\n");
    out.append("attempts: ").append(std::to_string(e.attempts)).append("\n");
    out.append("next-try: ").append(std::to_string(e.next_try)).append("\n");
    if (e.held) out.append("held: 1\n");  // absent when false: older readers skip it anyway
    if (e.warned) out.append("warned: 1\n");
    for (const auto& r : e.recipients) {
        out.append("rcpt: ").append(state_name(r.state)).append(" ");
        out.append(one_line(r.address)).append("\n");
        if (!r.diagnostic.empty()) out.append("diag: ").append(one_line(r.diagnostic)).append("\n");
    }
    out.append("\n");
    return out;
}

std::optional<Entry> parse(std::string_view file, std::string* error) {
    auto header_end = file.find("\n\n");
    if (header_end == std::string_view::npos) return fail(error, "no end of header");
    auto e = parse_header(file.substr(0, header_end + 1), error);
    if (!e) return e;
    e->content = file.substr(header_end + 2);
    e->body_offset = header_end + 2;
    e->content_size = e->content.size();
    return e;
}

int ensure_dirs(const std::string& queue_dir) {
    for (const std::string& dir : {queue_dir, queue_dir + "/tmp"})
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return errno;
    return is_directory(queue_dir + "/tmp") ? 0 : ENOTDIR;
}

Status stage_new(const std::string& queue_dir, Entry& entry, const MessageParts& content,
                 StagedFile& staged) {
    // Queue ids are unique per run; a name taken on disk (an id reused
    // after a restart) must never be renamed over, so it gets a fresh one.
    entry.name = entry.id;
    if (!safe_file_name(entry.name) || exists(queue_dir + "/" + entry.name))
        entry.name = fresh_name();
    return stage_file(queue_dir, entry, content, staged);
}

std::vector<std::string> list(const std::string& queue_dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(queue_dir.c_str());
    if (d == nullptr) {
        log_line("list queue " + queue_dir + ": " + errno_text(errno));
        return names;
    }
    while (const dirent* entry = ::readdir(d)) {
        std::string name = entry->d_name;
        if (name.front() == '.' || name == "tmp") continue;
        if (is_regular_file(queue_dir + "/" + name)) names.push_back(std::move(name));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

Status read(const std::string& queue_dir, const std::string& name, Entry& entry) {
    std::string text;
    if (int err = read_file(queue_dir + "/" + name, text); err != 0)
        return err == ENOENT ? Status::not_found : status_from_errno(err);
    std::string error;
    auto parsed = parse(text, &error);
    if (!parsed) return malformed(queue_dir + "/" + name, error);
    entry = std::move(*parsed);
    entry.name = name;
    return Status::ok;
}

Status read_envelope(const std::string& queue_dir, const std::string& name, Entry& entry,
                     UniqueFd* fd) {
    if (!safe_file_name(name)) return Status::not_found;
    std::string path = queue_dir + "/" + name;
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file.valid()) return errno == ENOENT ? Status::not_found : status_from_errno(errno);
    struct stat st {};
    if (::fstat(file.get(), &st) != 0) return status_from_errno(errno);
    std::string header;
    std::uint64_t body_offset = 0;
    if (int err = read_header(file.get(), header, body_offset); err != 0)
        return err == EBADMSG ? malformed(path, "no end of header") : status_from_errno(err);
    std::string error;
    auto parsed = parse_header(header, &error);
    if (!parsed) return malformed(path, error);
    entry = std::move(*parsed);
    entry.name = name;
    entry.body_offset = body_offset;
    entry.content_size = static_cast<std::uint64_t>(st.st_size) - body_offset;
    if (fd) *fd = std::move(file);
    return Status::ok;
}

void rewrite(const std::string& queue_dir, const Entry& entry, CommitGroup& group,
             Status* status) {
    Entry current;
    UniqueFd fd;
    *status = read_envelope(queue_dir, entry.name, current, &fd);
    if (*status != Status::ok) return;
    MessageParts content{{}, fd.get(), current.content_size, {}, current.body_offset};
    StagedFile staged;
    *status = stage_file(queue_dir, entry, content, staged);
    if (*status != Status::ok) return;
    group.add_file(staged.fd, staged.tmp_path, staged.final_path, status, Rename::replaces);
    group.add_dir_sync(staged.dir, status);
}

Status remove(const std::string& queue_dir, const std::string& name) {
    if (!safe_file_name(name)) return Status::not_found;
    if (::unlink((queue_dir + "/" + name).c_str()) != 0)
        return errno == ENOENT ? Status::not_found : status_from_errno(errno);
    int err = fsync_dir(queue_dir);
    return err == 0 ? Status::ok : status_from_errno(err);
}

}  // namespace bm::store::queue
