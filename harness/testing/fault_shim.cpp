// Test only: a fault-injection shim. Preloaded (LD_PRELOAD) into a server,
// or linked into a test program, it makes chosen file-system calls on
// chosen paths fail with a chosen errno, so the tests can check what the
// store answers when a disk misbehaves -- a failed fsync, a failed rename --
// without a broken disk.
//
// Configured by the environment (read at the first call; a test program
// that changes it calls bm_fault_shim_reload()):
//   BM_FAULT_CALLS  comma list of fsync, fdatasync, rename, write, openat
//                   (write covers write, writev, pwrite64 and the output
//                   of copy_file_range; openat covers open, open64, openat,
//                   openat64);
//                   unset or empty: the shim does nothing
//   BM_FAULT_PATH   glob (fnmatch, '*' crosses '/') the path must match; for
//                   a call on a descriptor, the file it names now; for
//                   rename, either name. Unset: every path
//   BM_FAULT_AFTER  matching calls that still succeed first (default 0)
//   BM_FAULT_TIMES  matching calls to fail after those (default: all)
//   BM_FAULT_ERRNO  EIO (default), ENOSPC, EDQUOT, EROFS, EACCES or a number
//   BM_FAULT_LOG    file to which each injected fault appends one line,
//                   "<call> <path> <errno>", so a test can tell it happened
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

enum Call : unsigned { fsync_call = 1, fdatasync_call = 2, rename_call = 4, write_call = 8, open_call = 16 };

struct Config {
    unsigned calls = 0;
    std::string pattern;  // empty: any path
    long after = 0;
    long times = -1;      // -1: no end
    int err = EIO;
    std::string log_path;
};

Config config;
std::atomic<unsigned> armed_calls{0};
std::atomic<long> matched{0};
std::once_flag loaded;

int errno_from_name(const char* name) {
    if (name == nullptr || *name == '\0') return EIO;
    struct Named { const char* name; int value; };
    static const Named known[] = {{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT},
                                  {"EROFS", EROFS}, {"EACCES", EACCES}, {"EPERM", EPERM}};
    for (const Named& k : known)
        if (std::strcmp(k.name, name) == 0) return k.value;
    int value = std::atoi(name);
    return value > 0 ? value : EIO;
}

unsigned calls_from_list(const char* list) {
    unsigned calls = 0;
    std::string all = list ? list : "";
    std::size_t start = 0;
    while (start <= all.size()) {
        std::size_t comma = all.find(',', start);
        std::string name = all.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (name == "fsync") calls |= fsync_call;
        else if (name == "fdatasync") calls |= fdatasync_call;
        else if (name == "rename") calls |= rename_call;
        else if (name == "write") calls |= write_call;
        else if (name == "openat" || name == "open") calls |= open_call;
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return calls;
}

long number_from(const char* text, long fallback) {
    return text && *text ? std::strtol(text, nullptr, 10) : fallback;
}

void load_config() {
    armed_calls.store(0);
    config = Config{};
    config.calls = calls_from_list(std::getenv("BM_FAULT_CALLS"));
    if (const char* p = std::getenv("BM_FAULT_PATH")) config.pattern = p;
    config.after = number_from(std::getenv("BM_FAULT_AFTER"), 0);
    config.times = number_from(std::getenv("BM_FAULT_TIMES"), -1);
    config.err = errno_from_name(std::getenv("BM_FAULT_ERRNO"));
    if (const char* l = std::getenv("BM_FAULT_LOG")) config.log_path = l;
    matched.store(0);
    armed_calls.store(config.calls);
}

void ensure_loaded() { std::call_once(loaded, load_config); }

template <typename Fn>
Fn real(const char* name) {
    return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

using write_fn = ssize_t (*)(int, const void*, size_t);

ssize_t real_write(int fd, const void* data, size_t size) {
    static const write_fn next = real<write_fn>("write");
    return next(fd, data, size);
}

std::string path_of_fd(int fd) {
    char link[64], target[PATH_MAX];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = ::readlink(link, target, sizeof target - 1);
    return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

bool path_matches(const std::string& path) {
    return config.pattern.empty() || ::fnmatch(config.pattern.c_str(), path.c_str(), 0) == 0;
}

void note_fault(const char* call, const std::string& path) {
    if (config.log_path.empty()) return;
    using open_fn = int (*)(const char*, int, ...);
    static const open_fn next_open = real<open_fn>("open");
    int fd = next_open(config.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    std::string line = std::string(call) + " " + path + " " + std::to_string(config.err) + "\n";
    real_write(fd, line.data(), line.size());
    ::close(fd);
}

// True (errno set) when this call is to fail.
bool should_fail(Call call, const char* name, const std::string& path, const std::string& other = {}) {
    if (!path_matches(path) && (other.empty() || !path_matches(other))) return false;
    long n = matched.fetch_add(1);
    if (n < config.after) return false;
    if (config.times >= 0 && n >= config.after + config.times) return false;
    note_fault(name, path);
    errno = config.err;
    (void)call;
    return true;
}

bool armed(Call call) {
    ensure_loaded();
    return (armed_calls.load(std::memory_order_relaxed) & call) != 0;
}

bool fails_on_fd(Call call, const char* name, int fd) {
    return armed(call) && should_fail(call, name, path_of_fd(fd));
}

bool fails_on_path(Call call, const char* name, int dirfd, const char* path) {
    if (!armed(call) || path == nullptr) return false;
    std::string full = path;
    if (path[0] != '/' && dirfd != AT_FDCWD) full = path_of_fd(dirfd) + "/" + path;
    return should_fail(call, name, full);
}

mode_t mode_arg(int flags, va_list args) {
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? static_cast<mode_t>(va_arg(args, int)) : 0;
}

}  // namespace

// The symbol names are given explicitly: <fcntl.h> may map open to open64.
extern "C" {

void bm_fault_shim_reload() {
    ensure_loaded();
    load_config();
}

int shim_fsync(int fd) __asm__("fsync");
int shim_fsync(int fd) {
    using fn = int (*)(int);
    static const fn next = real<fn>("fsync");
    if (fails_on_fd(fsync_call, "fsync", fd)) return -1;
    return next(fd);
}

int shim_fdatasync(int fd) __asm__("fdatasync");
int shim_fdatasync(int fd) {
    using fn = int (*)(int);
    static const fn next = real<fn>("fdatasync");
    if (fails_on_fd(fdatasync_call, "fdatasync", fd)) return -1;
    return next(fd);
}

int shim_rename(const char* from, const char* to) __asm__("rename");
int shim_rename(const char* from, const char* to) {
    using fn = int (*)(const char*, const char*);
    static const fn next = real<fn>("rename");
    if (armed(rename_call) && should_fail(rename_call, "rename", to ? to : "", from ? from : ""))
        return -1;
    return next(from, to);
}

ssize_t shim_write(int fd, const void* data, size_t size) __asm__("write");
ssize_t shim_write(int fd, const void* data, size_t size) {
    if (fails_on_fd(write_call, "write", fd)) return -1;
    return real_write(fd, data, size);
}

ssize_t shim_writev(int fd, const struct iovec* iov, int count) __asm__("writev");
ssize_t shim_writev(int fd, const struct iovec* iov, int count) {
    using fn = ssize_t (*)(int, const struct iovec*, int);
    static const fn next = real<fn>("writev");
    if (fails_on_fd(write_call, "write", fd)) return -1;
    return next(fd, iov, count);
}

ssize_t shim_pwrite64(int fd, const void* data, size_t size, off_t offset) __asm__("pwrite64");
ssize_t shim_pwrite64(int fd, const void* data, size_t size, off_t offset) {
    using fn = ssize_t (*)(int, const void*, size_t, off_t);
    static const fn next = real<fn>("pwrite64");
    if (fails_on_fd(write_call, "write", fd)) return -1;
    return next(fd, data, size, offset);
}

ssize_t shim_copy_file_range(int in, off_t* in_off, int out, off_t* out_off, size_t size,
                             unsigned flags) __asm__("copy_file_range");
ssize_t shim_copy_file_range(int in, off_t* in_off, int out, off_t* out_off, size_t size,
                             unsigned flags) {
    using fn = ssize_t (*)(int, off_t*, int, off_t*, size_t, unsigned);
    static const fn next = real<fn>("copy_file_range");
    if (fails_on_fd(write_call, "write", out)) return -1;
    return next(in, in_off, out, out_off, size, flags);
}

#define BM_SHIM_OPEN(symbol, real_name)                                              \
    int shim_##symbol(const char* path, int flags, ...) __asm__(real_name);          \
    int shim_##symbol(const char* path, int flags, ...) {                            \
        using fn = int (*)(const char*, int, ...);                                   \
        static const fn next = real<fn>(real_name);                                  \
        va_list args;                                                                \
        va_start(args, flags);                                                       \
        mode_t mode = mode_arg(flags, args);                                         \
        va_end(args);                                                                \
        if (fails_on_path(open_call, "openat", AT_FDCWD, path)) return -1;           \
        return next(path, flags, mode);                                              \
    }
BM_SHIM_OPEN(open, "open")
BM_SHIM_OPEN(open64, "open64")
#undef BM_SHIM_OPEN

#define BM_SHIM_OPENAT(symbol, real_name)                                            \
    int shim_##symbol(int dirfd, const char* path, int flags, ...) __asm__(real_name); \
    int shim_##symbol(int dirfd, const char* path, int flags, ...) {                 \
        using fn = int (*)(int, const char*, int, ...);                              \
        static const fn next = real<fn>(real_name);                                  \
        va_list args;                                                                \
        va_start(args, flags);                                                       \
        mode_t mode = mode_arg(flags, args);                                         \
        va_end(args);                                                                \
        if (fails_on_path(open_call, "openat", dirfd, path)) return -1;              \
        return next(dirfd, path, flags, mode);                                       \
    }
BM_SHIM_OPENAT(openat, "openat")
BM_SHIM_OPENAT(openat64, "openat64")
#undef BM_SHIM_OPENAT

}  // extern "C"
