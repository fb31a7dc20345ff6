#include "store/commit_group.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

#include "store/file_io.hpp"
#include "store/log.hpp"

namespace bm::store {

Status status_from_errno(int err) {
    return err == ENOSPC || err == EDQUOT ? Status::no_space : Status::temp_failure;
}

namespace {

void fail(Status* status, int err) {
    if (*status == Status::ok) *status = status_from_errno(err);
}

}  // namespace

void CommitGroup::add_file(int fd, std::string tmp, std::string final_path, Status* status,
                           Rename rename) {
    files_.push_back(File{fd, std::move(tmp), std::move(final_path), status, rename});
    registered_.push_back(status);
}

void CommitGroup::add_dir_sync(std::string dir, Status* status) {
    registered_.push_back(status);
    auto same = std::find_if(dirs_.begin(), dirs_.end(),
                             [&](const Dir& d) { return d.path == dir; });
    if (same == dirs_.end()) {
        dirs_.push_back(Dir{std::move(dir), {status}});
    } else if (std::find(same->statuses.begin(), same->statuses.end(), status) ==
               same->statuses.end()) {
        same->statuses.push_back(status);
    }
}

void CommitGroup::fail_since(Mark mark) {
    for (std::size_t i = mark.statuses; i < registered_.size(); ++i)
        *registered_[i] = Status::temp_failure;
}

void CommitGroup::flush() {
    std::vector<bool> renamed(files_.size(), false);
    retry_unsynced_dirs();
    sync_files();
    rename_files(renamed);
    undo_failed(renamed);
    sync_dirs();
    files_.clear();
    dirs_.clear();
    registered_.clear();
}

// A directory whose fsync failed holds renamed files whose names may not
// survive a crash; each flush tries again until one succeeds.
void CommitGroup::retry_unsynced_dirs() {
    std::erase_if(unsynced_dirs_, [this](const std::string& dir) {
        if (fsync_dir(dir) != 0) return false;
        ++dirs_synced_;
        log_line("fsync directory " + dir + " succeeded again: the files renamed into it are durable");
        return true;
    });
}

// Writeback is started for every file before waiting on any, so the disk
// sees the whole batch at once instead of one file per round trip.
void CommitGroup::sync_files() {
    for (auto& f : files_)
        if (*f.status == Status::ok) ::sync_file_range(f.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    for (auto& f : files_) {
        // fdatasync covers the data and the file size: all a new file
        // needs before its name is made visible by rename.
        if (*f.status == Status::ok) {
            if (::fdatasync(f.fd) == 0) {
                ++files_synced_;
            } else {
                int err = errno;
                log_line("fsync " + f.tmp + ": " + errno_text(err));
                fail(f.status, err);
            }
        }
        ::close(f.fd);
        f.fd = -1;
    }
}

// A job's files are renamed only if every one of them synced; the job's
// status then decides for all of them (all-or-nothing).
void CommitGroup::rename_files(std::vector<bool>& renamed) {
    for (std::size_t i = 0; i < files_.size(); ++i) {
        auto& f = files_[i];
        if (*f.status != Status::ok) continue;
        if (::rename(f.tmp.c_str(), f.final_path.c_str()) == 0) {
            renamed[i] = true;
            ++renames_;
        } else {
            int err = errno;
            log_line("rename " + f.tmp + " -> " + f.final_path + ": " + errno_text(err));
            fail(f.status, err);
        }
    }
}

// A job that failed before or in the renames leaves nothing new visible:
// its temporary files go, and so do the fresh names already made for it.
// A replacement stays: the version it replaced is gone.
void CommitGroup::undo_failed(const std::vector<bool>& renamed) {
    for (std::size_t i = 0; i < files_.size(); ++i) {
        auto& f = files_[i];
        if (*f.status == Status::ok) continue;
        if (!renamed[i]) {
            ::unlink(f.tmp.c_str());
        } else if (f.rename == Rename::fresh) {
            ::unlink(f.final_path.c_str());
        } else {
            log_line("rename " + f.tmp + " -> " + f.final_path +
                     " stands though its job failed: the new version is the only copy");
        }
    }
}

// After the renames nothing is unlinked any more: a failed directory fsync
// fails the jobs (their names may not survive a crash) and leaves their
// files where they are. A retry in the same flush would prove nothing
// (Linux reports a writeback error once), so the directory is synced again
// at the next flush instead.
void CommitGroup::sync_dirs() {
    for (auto& d : dirs_) {
        bool wanted = std::any_of(d.statuses.begin(), d.statuses.end(),
                                  [](Status* s) { return *s == Status::ok; });
        if (!wanted) continue;
        int err = fsync_dir(d.path);
        if (err == 0) {
            ++dirs_synced_;
            continue;
        }
        log_line("fsync directory " + d.path + ": " + errno_text(err) +
                 "; the files renamed into it stay (never unlinked: one may be the only copy)"
                 " but may not survive a crash, so their jobs fail; synced again at the next commit");
        for (Status* s : d.statuses) fail(s, err);
        if (std::find(unsynced_dirs_.begin(), unsynced_dirs_.end(), d.path) == unsynced_dirs_.end())
            unsynced_dirs_.push_back(d.path);
    }
}

}  // namespace bm::store
