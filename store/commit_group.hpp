// Durable steps shared by one batch of jobs (group commit).
//
// A job writes its data to temporary files during execute() and registers
// here what must follow: sync the file, rename it into place, sync the
// directory. flush() does each step once for the whole batch — file data
// first (writeback started for all files before waiting on any), then the
// renames, then one fsync per distinct directory — and reports failures to
// the job that registered the step through its status slot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bm::store {

enum class Status { ok, not_found, auth_failed, in_use, temp_failure, no_space, permanent_failure };

// Maps an errno from a write path to the status a client sees (ENOSPC,
// EDQUOT -> no_space; others -> temp_failure).
Status status_from_errno(int err);

class CommitGroup {
public:
    // `fd` is owned by the group from now on (closed after sync).
    // `tmp` is renamed to `final_path` once every file of `status`'s job is
    // synced; on failure `tmp` is unlinked and *status set.
    void add_file(int fd, std::string tmp, std::string final_path, Status* status);
    // A directory to fsync after the renames (deduplicated).
    void add_dir_sync(std::string dir, Status* status);
    // Runs every step; afterwards each registered status is final.
    void flush();
    bool empty() const { return files_.empty() && dirs_.empty(); }

    // Totals over every flush of this group (for tests and telemetry).
    std::uint64_t files_synced() const { return files_synced_; }
    std::uint64_t renames() const { return renames_; }
    std::uint64_t dirs_synced() const { return dirs_synced_; }

private:
    struct File {
        int fd;
        std::string tmp, final_path;
        Status* status;
    };
    struct Dir {
        std::string path;
        std::vector<Status*> statuses;
    };
    void sync_files();
    void rename_files(std::vector<bool>& renamed);
    void sync_dirs();
    void undo_failed(const std::vector<bool>& renamed);

    std::vector<File> files_;
    std::vector<Dir> dirs_;
    std::uint64_t files_synced_ = 0;
    std::uint64_t renames_ = 0;
    std::uint64_t dirs_synced_ = 0;
};

}  // namespace bm::store
