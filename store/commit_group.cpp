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

void CommitGroup::add_file(int fd, std::string tmp, std::string final_path, Status* status) {
    files_.push_back(File{fd, std::move(tmp), std::move(final_path), status});
}

void CommitGroup::add_dir_sync(std::string dir, Status* status) {
    auto same = std::find_if(dirs_.begin(), dirs_.end(),
                             [&](const Dir& d) { return d.path == dir; });
    if (same == dirs_.end()) {
        dirs_.push_back(Dir{std::move(dir), {status}});
    } else if (std::find(same->statuses.begin(), same->statuses.end(), status) ==
               same->statuses.end()) {
        same->statuses.push_back(status);
    }
}

void CommitGroup::flush() {
    std::vector<bool> renamed(files_.size(), false);
    sync_files();
    rename_files(renamed);
    sync_dirs();
    undo_failed(renamed);
    files_.clear();
    dirs_.clear();
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
        log_line("fsync directory " + d.path + ": " + errno_text(err));
        for (Status* s : d.statuses) fail(s, err);
    }
}

// A job that failed anywhere leaves nothing visible: its temporary files
// go, and so do the ones already renamed before a later step failed.
void CommitGroup::undo_failed(const std::vector<bool>& renamed) {
    for (std::size_t i = 0; i < files_.size(); ++i) {
        auto& f = files_[i];
        if (*f.status == Status::ok) continue;
        ::unlink(renamed[i] ? f.final_path.c_str() : f.tmp.c_str());
    }
}

}  // namespace bm::store
