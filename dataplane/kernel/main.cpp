// baremail-kernel: the same mail server over Linux sockets.
#include <cstdio>
#include <exception>
#include <memory>

#include "dataplane/common/daemon.hpp"
#include "dataplane/common/event_log.hpp"
#include "dataplane/common/options.hpp"
#include "dataplane/common/program.hpp"
#include "dataplane/kernel/kernel_server.hpp"
#include "store/mail_store.hpp"

namespace {

constexpr const char* program = "baremail-kernel";

int serve(const bm::Options& options) {
    bm::EventLog log;
    log.open(options.log_file, options.verbose);
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
    bm::daemon_ready(ready);
    server.run(options.sink ? nullptr : &store);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return bm::run_program({program, "baremail mail server, kernel-socket build", bm::Build::kernel}, argc,
                           argv, serve);
}
