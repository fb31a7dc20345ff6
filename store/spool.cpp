#include "store/spool.hpp"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "store/log.hpp"

namespace bm::store {
namespace {

// ".spool.<pid>.<id>": a queue file staged in tmp/ never starts with a dot
// (queue ids that do are renamed), so the two are never confused; the pid
// tells a live process's spool from one a crash left.
constexpr std::string_view spool_prefix = ".spool.";

std::string spool_name(std::uint64_t id) {
    return std::string(spool_prefix) + std::to_string(::getpid()) + "." + std::to_string(id);
}

// The pid in a spool file name, 0 if the name is not a spool's.
pid_t spool_owner(std::string_view name) {
    if (!name.starts_with(spool_prefix)) return 0;
    name.remove_prefix(spool_prefix.size());
    pid_t pid = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec != std::errc{} || end == name.data() + name.size() || *end != '.') return 0;
    return pid;
}

bool is_left_over(pid_t owner) {
    if (owner <= 0) return false;
    if (owner == ::getpid()) return true;  // an earlier run that had our pid
    return ::kill(owner, 0) != 0 && errno == ESRCH;
}

}  // namespace

SpoolFile::~SpoolFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
}

int SpoolFile::append(std::string_view bytes) {
    int err = write_all(fd_.get(), bytes);
    if (err == 0) size_ += bytes.size();
    return err;
}

Spools::Spools(std::string tmp_dir) : tmp_dir_(std::move(tmp_dir)) {
    if (std::size_t n = remove_leftover_spools(tmp_dir_); n != 0)
        log_line("removed " + std::to_string(n) + " spool file(s) of unfinished messages in " +
                 tmp_dir_);
}

Status Spools::append(std::uint64_t& id, std::string_view bytes) {
    std::lock_guard guard(mutex_);
    if (id == 0) {
        if (Status s = create(id); s != Status::ok) return s;
    }
    auto it = open_.find(id);
    if (it == open_.end()) {
        log_line("spool " + std::to_string(id) + ": unknown");
        return Status::temp_failure;
    }
    if (int err = it->second->append(bytes); err != 0) {
        log_line("spool " + it->second->path() + ": " + errno_text(err));
        return status_from_errno(err);
    }
    return Status::ok;
}

Status Spools::create(std::uint64_t& id) {
    std::uint64_t fresh = next_id_++;
    std::string path = tmp_dir_ + "/" + spool_name(fresh);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) {
        int err = errno;
        log_line("spool " + path + ": " + errno_text(err));
        return status_from_errno(err);
    }
    open_[fresh] = std::make_unique<SpoolFile>(std::move(fd), std::move(path));
    id = fresh;
    return Status::ok;
}

std::unique_ptr<SpoolFile> Spools::take(std::uint64_t id) {
    std::lock_guard guard(mutex_);
    auto it = open_.find(id);
    if (it == open_.end()) return nullptr;
    std::unique_ptr<SpoolFile> spool = std::move(it->second);
    open_.erase(it);
    return spool;
}

void Spools::drop(std::uint64_t id) { take(id); }

std::size_t Spools::count() const {
    std::lock_guard guard(mutex_);
    return open_.size();
}

std::uint64_t Spools::bytes() const {
    std::lock_guard guard(mutex_);
    std::uint64_t total = 0;
    for (const auto& [id, spool] : open_) total += spool->size();
    return total;
}

std::size_t remove_leftover_spools(const std::string& tmp_dir) {
    DIR* d = ::opendir(tmp_dir.c_str());
    if (d == nullptr) return 0;
    std::size_t removed = 0;
    while (const dirent* entry = ::readdir(d)) {
        if (!is_left_over(spool_owner(entry->d_name))) continue;
        if (::unlinkat(::dirfd(d), entry->d_name, 0) == 0) ++removed;
    }
    ::closedir(d);
    return removed;
}

}  // namespace bm::store
