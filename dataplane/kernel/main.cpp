// baremail-kernel: the same mail server over Linux sockets.
#include <signal.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>

#include "dataplane/common/daemon.hpp"
#include "dataplane/common/event_log.hpp"
#include "dataplane/common/options.hpp"
#include "dataplane/common/program.hpp"
#include "dataplane/common/store_log.hpp"
#include "dataplane/kernel/kernel_server.hpp"
#include "store/mail_store.hpp"

namespace {

constexpr const char* program = "baremail-kernel";

int serve(const bm::Options& options) {
    // Blocked before any thread starts, so every one leaves them to the
    // loop's signalfd (kernel_server.cpp): a HUP at start is kept, not fatal.
    sigset_t signals = bm::server_signals();
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    std::optional<bm::RunAs> run_as;  // looked up first: an unknown user touches nothing
    if (!options.user.empty()) run_as = bm::find_user(options.user);
    bm::EventLog log;
    log.open(options.log_file, options.verbose);
    bm::StoreLogLink store_log(log);  // the store's failures in this log, escaped
    auto log_reload = bm::reload_hooks().add("log", [&] { log.reopen(); });
    // Ports first: a busy port must fail before anything is created on disk.
    bm::kernel::KernelServer server(options, log);
    bm::store::MailStore store(store_config(options));
    bm::PidFile pid_file;
    if (!options.pid_file.empty()) pid_file.lock(options.pid_file);
    int ready = -1;
    if (options.daemon) {
        ready = bm::daemonize();
        log.detach_from_terminal();
    }
    pid_file.write_pid();
    if (run_as) {
        // The ports, the log and pid files are open; the queue dir was made
        // as root. From here on nothing runs as root.
        bm::give_tree(options.queue_dir, *run_as);
        bm::drop_privileges(*run_as);
        if (!options.sink) bm::require_writable(options.mail_dir, "mail dir", *run_as);
    }
    bm::daemon_ready(ready);
    server.run(options.sink ? nullptr : &store);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return bm::run_program({program, "baremail mail server, kernel-socket build", bm::Build::kernel}, argc,
                           argv, serve);
}
