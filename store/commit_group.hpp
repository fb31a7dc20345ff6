// Durable steps shared by one batch of jobs (group commit).
//
// A job writes its data to temporary files during execute() and registers
// here what must follow: sync the file, rename it into place, sync the
// directory. flush() does each step once for the whole batch — file data
// first (writeback started for all files before waiting on any), then the
// renames, then one fsync per distinct directory — and reports failures to
// the job that registered the step through its status slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bm::store {

enum class Status { ok, not_found, auth_failed, in_use, temp_failure, no_space, permanent_failure };

// Maps an errno from a write path to the status a client sees (ENOSPC,
// EDQUOT -> no_space; others -> temp_failure).
Status status_from_errno(int err);

// What a staged file's rename does to its final name.
enum class Rename {
    fresh,     // makes a new name (a delivery): undone if its job fails in the renames
    replaces,  // puts a new version over an existing file (a queue rewrite): never
               // undone -- the old version is gone, the new one is the only copy
};

class CommitGroup {
public:
    // Where one job's registrations start (see fail_since).
    struct Mark {
        std::size_t statuses;
    };

    // `fd` is owned by the group from now on (closed after sync).
    // `tmp` is renamed to `final_path` once every file of `status`'s job is
    // synced; on failure before the rename `tmp` is unlinked and *status set.
    void add_file(int fd, std::string tmp, std::string final_path, Status* status,
                  Rename rename = Rename::fresh);
    // A directory to fsync after the renames (deduplicated).
    void add_dir_sync(std::string dir, Status* status);
    Mark mark() const { return Mark{registered_.size()}; }
    // Fails every step registered since `mark` (a job that threw midway):
    // nothing of it is renamed, its temporary files go at flush().
    void fail_since(Mark mark);
    // Runs every step; afterwards each registered status is final.
    //
    // Once a rename has made a file visible, no failure deletes it by its
    // final name, except a fresh name whose job failed in the renames
    // themselves (all-or-nothing, as Dovecot's maildir save unlinks the
    // copies it already moved; the client still holds the message, since
    // it gets a temporary failure). A directory fsync that fails after the
    // renames is tried again; if it still fails, the renamed files stay,
    // their jobs report a temporary failure (the names may not survive a
    // crash: the client retries, a duplicate at worst -- RFC 5321 §6.1),
    // and the directory is synced again at the start of each later flush
    // until that succeeds.
    void flush();
    bool empty() const { return files_.empty() && dirs_.empty(); }

    // Totals over every flush of this group (for tests and telemetry).
    std::uint64_t files_synced() const { return files_synced_; }
    std::uint64_t renames() const { return renames_; }
    std::uint64_t dirs_synced() const { return dirs_synced_; }
    // Directories whose fsync failed after files were renamed into them,
    // not yet synced by a later flush.
    const std::vector<std::string>& unsynced_dirs() const { return unsynced_dirs_; }

private:
    struct File {
        int fd;
        std::string tmp, final_path;
        Status* status;
        Rename rename;
    };
    struct Dir {
        std::string path;
        std::vector<Status*> statuses;
    };
    void retry_unsynced_dirs();
    void sync_files();
    void rename_files(std::vector<bool>& renamed);
    void undo_failed(const std::vector<bool>& renamed);
    void sync_dirs();

    std::vector<File> files_;
    std::vector<Dir> dirs_;
    std::vector<Status*> registered_;  // every status given since the last flush
    std::vector<std::string> unsynced_dirs_;
    std::uint64_t files_synced_ = 0;
    std::uint64_t renames_ = 0;
    std::uint64_t dirs_synced_ = 0;
};

}  // namespace bm::store
