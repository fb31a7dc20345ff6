// baremail: the mail server on a DPDK port with its own TCP/IP stack.
//
//   baremail [EAL options] -- [options]      (SPEC "Command line")
//
// Like DPDK's l3fwd: split EAL options from ours, set up the port, run the
// polling loop on the main lcore, clean up. Two things differ from l3fwd's
// order, both on purpose: our options are parsed before rte_eal_init, so a
// bad option touches nothing (no TAP created; SPEC: exit 2); and --daemon
// forks before rte_eal_init, since the EAL's threads do not survive fork.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>

#include "dataplane/common/daemon.hpp"
#include "dataplane/common/event_log.hpp"
#include "dataplane/common/log_writer.hpp"
#include "dataplane/common/options.hpp"
#include "dataplane/common/program.hpp"
#include "dataplane/common/store_log.hpp"
#include "dataplane/dpdk/counters.hpp"
#include "dataplane/dpdk/eal.hpp"
#include "dataplane/dpdk/eal_args.hpp"
#include "dataplane/dpdk/helper_cpus.hpp"
#include "dataplane/dpdk/poll_loop.hpp"
#include "dataplane/dpdk/port.hpp"
#include "dataplane/dpdk/telemetry.hpp"
#include "store/io_worker.hpp"
#include "store/mail_store.hpp"

namespace {

constexpr const char* program = "baremail";

bm::dpdk::SignalFlags signal_flags;

// Only flags and a wake-up here: the loop does the work (program.hpp).
void on_signal(int signal) {
    switch (bm::signal_request(signal)) {
    case bm::SignalRequest::report: signal_flags.report = 1; break;
    case bm::SignalRequest::reload: signal_flags.reload = 1; break;
    default: signal_flags.stop = 1; break;
    }
    // The handler may run on any thread: wake a sleeping loop.
    if (int fd = signal_flags.wake_fd; fd >= 0) {
        int saved = errno;
        std::uint64_t one = 1;
        ssize_t ignored = ::write(fd, &one, sizeof one);
        (void)ignored;
        errno = saved;
    }
}

void install_signal_handlers() {
    sigset_t handled = bm::server_signals();
    for (int s = 1; s < NSIG; ++s)
        if (sigismember(&handled, s) == 1) std::signal(s, on_signal);
}

cpu_set_t thread_cpus() {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    pthread_getaffinity_np(pthread_self(), sizeof cpus, &cpus);
    return cpus;
}


int serve(const bm::Options& options, bm::dpdk::CommandLine& line) {
    std::optional<bm::RunAs> run_as;  // looked up first: an unknown user touches nothing
    if (!options.user.empty()) run_as = bm::find_user(options.user);
    bm::dpdk::Addressing addressing = bm::dpdk::addressing(options);
    bm::store::MailStore store(store_config(options));  // validates the mail dir first
    bm::EventLog log;
    log.open(options.log_file, options.verbose);
    bm::StoreLogLink store_log(log);  // the store's failures in this log, escaped
    // From here a HUP or USR1 is kept for the loop (a flag), no longer fatal.
    install_signal_handlers();
    auto log_reload = bm::reload_hooks().add("log", [&] { log.reopen(); });
    bm::PidFile pid_file;
    if (!options.pid_file.empty()) pid_file.lock(options.pid_file);
    int ready = -1;
    if (options.daemon) {
        ready = bm::daemonize();
        log.detach_from_terminal();
    }
    cpu_set_t allowed = thread_cpus();  // before the EAL pins this thread
    bm::dpdk::Eal eal(line.eal);
    // The I/O worker's and the log writer's threads start on every CPU we
    // may use but the polling lcore's (helper_cpus.hpp). From here the
    // polling core never writes a log line itself.
    cpu_set_t polling = thread_cpus();
    bm::dpdk::HelperCpus helpers = bm::dpdk::helper_cpus(allowed, polling);
    std::optional<bm::store::IoWorker> worker;
    std::optional<bm::LogWriter> log_writer;
    {
        bm::dpdk::ScopedAffinity on_helper_cpus(helpers.cpus);
        worker.emplace();
        log_writer.emplace();
    }
    log.write_through(&*log_writer);
    log.event("server", "-", "cpus",
              "polling=" + bm::dpdk::cpu_list(polling) + " helpers=" + bm::dpdk::cpu_list(helpers.cpus) +
                  (helpers.shared ? " (no other CPU: shared with the polling lcore)" : ""));
    // Static: the telemetry thread may read it until the EAL is gone.
    static bm::dpdk::Counters counters;
    bm::dpdk::PortSettings settings;
    settings.rx_interrupts = !options.busy_poll;
    bm::dpdk::Port port(settings);
    // Threads the loop's parts start (the password checks' AuthWorker) go
    // to the helper CPUs too; the loop itself then runs on the polling lcore.
    std::optional<bm::dpdk::PollLoop> loop;
    {
        bm::dpdk::ScopedAffinity on_helper_cpus(helpers.cpus);
        loop.emplace(options, addressing, port, options.sink ? nullptr : &store, *worker, log, counters);
    }
    bm::dpdk::register_telemetry(counters);
    pid_file.write_pid();
    if (run_as) {
        // The EAL, the port (TAP, memif, ...) and the log and pid files are
        // open; the queue dir was made as root. From here on nothing runs
        // as root (glibc changes every thread's ids, the EAL's too).
        bm::give_tree(options.queue_dir, *run_as);
        bm::drop_privileges(*run_as);
        if (!options.sink) bm::require_writable(options.mail_dir, "mail dir", *run_as);
    }
    bm::daemon_ready(ready);
    return loop->run(signal_flags);
}

}  // namespace

int main(int argc, char** argv) {
    bm::dpdk::CommandLine line = bm::dpdk::split_command_line(argc, argv);
    bm::dpdk::Argv app(line.app);
    return bm::run_program({program, "baremail mail server, DPDK build", bm::Build::dpdk}, app.argc(),
                           app.argv(), [&](const bm::Options& options) { return serve(options, line); });
}
