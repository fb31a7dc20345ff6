// Spools: the octets of a message still being received (SMTP DATA), kept
// in a file under the queue's tmp dir until the delivery at the final dot
// copies them, as Postfix writes its queue file while the message arrives.
// Plain writes, no fsync: a spool is never a promise. The 250 is given only
// once the copies made from it are synced, so a spool a crash leaves
// behind held nothing anyone was told was safe; it is removed at the next
// start.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "store/commit_group.hpp"
#include "store/file_io.hpp"

namespace bm::store {

// One spool file; removed when this goes.
class SpoolFile {
public:
    SpoolFile(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
    ~SpoolFile();
    SpoolFile(const SpoolFile&) = delete;
    SpoolFile& operator=(const SpoolFile&) = delete;

    // Returns 0 or an errno value; on failure the spool is incomplete.
    int append(std::string_view bytes);
    int fd() const { return fd_.get(); }
    std::uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    UniqueFd fd_;
    std::string path_;
    std::uint64_t size_ = 0;
};

// The open spools of this process, by id (never 0). One per queue dir and
// process: it removes the spool files of dead processes, and of earlier
// runs under this pid, when made.
class Spools {
public:
    explicit Spools(std::string tmp_dir);

    // Appends to spool `id`; id 0 makes a new spool and sets `id`. A spool
    // that failed stays until dropped (its owner learns of the failure).
    Status append(std::uint64_t& id, std::string_view bytes);
    // Hands the spool over (the delivery copies, then lets it go);
    // null for an unknown id.
    std::unique_ptr<SpoolFile> take(std::uint64_t id);
    // Removes it; an unknown id is ignored (a drop may follow a take).
    void drop(std::uint64_t id);
    std::size_t count() const;
    std::uint64_t bytes() const;  // octets held by all open spools

private:
    Status create(std::uint64_t& id);

    std::string tmp_dir_;
    mutable std::mutex mutex_;  // the I/O worker is the only caller in the server; tests use several threads
    std::map<std::uint64_t, std::unique_ptr<SpoolFile>> open_;
    std::uint64_t next_id_ = 1;
};

// Removes the spool files in `tmp_dir` whose process is gone or is this one.
// Returns how many it removed.
std::size_t remove_leftover_spools(const std::string& tmp_dir);

}  // namespace bm::store
