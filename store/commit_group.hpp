// Durable steps shared by one batch of jobs (group commit).
//
// A job writes its data to temporary files during execute() and registers
// here what must follow: sync the file, rename it into place, sync the
// directory. flush() does each step once for the whole batch — file data
// first (writeback started for all files before waiting on any), then the
// renames, then one fsync per distinct directory — and reports failures to
// the job that registered the step through its status slot.
#pragma once

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
    std::vector<File> files_;
    std::vector<Dir> dirs_;
};

}  // namespace bm::store
