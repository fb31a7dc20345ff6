#include "dataplane/common/program.hpp"

#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "apps/aliases.hpp"
#include "apps/relay/route.hpp"
#include "store/aliases.hpp"

namespace bm {

namespace {

// SPEC --aliases: read before either build starts its stack (the DPDK
// build's EAL talks on stderr), so a bad line is the one line there; on
// SIGHUP read again, the previous table kept if the new file is bad.
// RFC 5321 §4.5.1 wants postmaster (alias or mailbox). An operator who
// gave --aliases without one has a configuration error: the start stops.
// Without --aliases the mail dir alone defines the users (SPEC), so a
// server started as SPEC describes keeps starting: a warning says how to
// add postmaster, and RCPT TO:<postmaster> gets 550 until then. --sink
// takes every recipient anyway.
void check_postmaster(const Program& program, const Options& options) {
    if (options.sink) return;
    std::string missing = store::missing_postmaster(*options.aliases->current(), options.mail_dir);
    if (missing.empty()) return;
    if (!options.aliases_file.empty()) throw std::runtime_error(missing);
    std::fprintf(stderr, "%s: warning: %s\n", program.name, missing.c_str());
}

ReloadHooks::Registration read_aliases(const Program& program, Options& options) {
    options.aliases = std::make_shared<apps::AliasBook>(store::load_aliases(options.aliases_file));
    check_postmaster(program, options);
    if (options.aliases_file.empty()) return {};
    return reload_hooks().add("aliases", [&options] {
        std::string why = store::reload_aliases(*options.aliases, options.aliases_file);
        if (!why.empty()) throw std::runtime_error(why);
    });
}

}  // namespace

int run_program(const Program& program, int argc, char** argv,
                const std::function<int(const Options&)>& serve) {
    Options options;
    try {
        options = parse_options(argc, argv, program.build);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "%s: %s\n", program.name, e.what());
        return 2;
    }
    if (options.help) {
        std::fputs(usage(program.build).c_str(), stdout);
        return 0;
    }
    if (options.version) {
        std::printf("%s %s (%s)\n", program.name, BAREMAIL_VERSION, program.description);
        return 0;
    }
    if (options.about) {
        std::fprintf(stderr, "%s %s (%s)\n", program.name, BAREMAIL_VERSION, program.description);
        return 0;
    }
    ignore_other_signals();
    try {
        ReloadHooks::Registration aliases_reload = read_aliases(program, options);
        return serve(options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", program.name, e.what());
        return 2;
    }
}

store::StoreConfig store_config(const Options& o) {
    store::StoreConfig c;
    c.mail_dir = o.mail_dir;
    c.queue_dir = o.queue_dir;
    c.users_file = o.users_file;
    c.hostname = o.hostname;
    c.max_spool_bytes = o.max_spool;
    return c;
}

SignalRequest signal_request(int signal) {
    switch (signal) {
    case SIGTERM:
    case SIGINT: return SignalRequest::stop;
    case SIGHUP: return SignalRequest::reload;
    case SIGUSR1: return SignalRequest::report;
    default: return SignalRequest::none;
    }
}

sigset_t server_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, s);
    return set;
}

// signal(7): the signals whose default action is to terminate, less the
// ones acted on, SIGQUIT and the fault signals (their core is wanted), and
// SIGKILL/SIGSTOP, which cannot be caught. SIGXFSZ ignored makes an
// oversized write fail with EFBIG instead of killing (as Postfix does).
// The real-time signals keep their default: DPDK's TAP driver takes the
// first one still at SIG_DFL as its rx trigger (tun_alloc), and without it
// the port has no rx interrupts.
void ignore_other_signals() {
    for (int s : {SIGPIPE, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGXFSZ, SIGXCPU, SIGSTKFLT, SIGPWR})
        std::signal(s, SIG_IGN);
    // The ones the loops act on may arrive ignored (started under nohup(1):
    // HUP ignored); an ignored signal is discarded even while blocked for a
    // signalfd, so HUP would never reload. Back to the default first.
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) std::signal(s, SIG_DFL);
}

ReloadHooks::Registration& ReloadHooks::Registration::operator=(Registration&& other) noexcept {
    if (this != &other) {
        if (hooks_) hooks_->hooks_.erase(it_);
        hooks_ = std::exchange(other.hooks_, nullptr);
        it_ = other.it_;
    }
    return *this;
}

ReloadHooks::Registration::~Registration() {
    if (hooks_) hooks_->hooks_.erase(it_);
}

ReloadHooks::Registration ReloadHooks::add(std::string what, std::function<void()> reload) {
    hooks_.push_back({std::move(what), std::move(reload)});
    return Registration(this, std::prev(hooks_.end()));
}

std::string ReloadHooks::run() {
    std::string outcome;
    for (Hook& hook : hooks_) {
        if (!outcome.empty()) outcome += ' ';
        outcome += hook.what + "=";
        try {
            hook.reload();
            outcome += "ok";
        } catch (const std::exception& e) {
            outcome += std::string("error: ") + e.what();
        }
    }
    return outcome.empty() ? "nothing to reload" : outcome;
}

ReloadHooks& reload_hooks() {
    static ReloadHooks hooks;
    return hooks;
}

void run_reloads(EventLog& log) { log.event("server", "-", "reload", reload_hooks().run()); }

RelaySettings relay_settings(const Options& options, const std::string& instance_tag) {
    RelaySettings settings;
    settings.queue_dir = options.queue_dir;
    settings.hostname = options.hostname;
    settings.local_domains = options.local_domains;
    if (!options.relayhost.empty()) settings.relayhost = parse_relayhost(options.relayhost);
    settings.retry_delay = options.retry_delay;
    settings.max_attempts = options.max_attempts;
    settings.max_retry_delay = options.max_retry_delay;
    settings.max_lifetime = options.max_queue_lifetime;
    settings.delay_warning = options.delay_warning;
    settings.instance_tag = instance_tag;
    return settings;
}

}  // namespace bm
