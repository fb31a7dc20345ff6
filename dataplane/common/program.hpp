// What both mains share: parse the options, answer -a, run the server, and
// turn any failure into one line on stderr and exit code 2 (SPEC).
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <list>
#include <string>

#include "apps/relay/settings.hpp"
#include "dataplane/common/event_log.hpp"
#include "dataplane/common/options.hpp"
#include "store/mail_store.hpp"

namespace bm {

struct Program {
    const char* name;         // "baremail", "baremail-kernel"
    const char* description;  // for -a
    Build build;
};

int run_program(const Program& program, int argc, char** argv,
                const std::function<int(const Options&)>& serve);

store::StoreConfig store_config(const Options& options);

// ---- signals (issue 12; what Postfix's master and Dovecot do) ---------------
//
// TERM/INT stop the server, HUP reloads (reopens the log, re-reads the
// users file and whatever else registered below), USR1 prints the
// counters. The handlers, if any, only set flags: the work is done on the
// main loop. Every other signal whose default would end the process
// (PIPE, USR2, ALRM, ...) is ignored, so a stray kill or a closed peer
// never takes the server down.
enum class SignalRequest { none, stop, reload, report };
SignalRequest signal_request(int signal);
// TERM, INT, HUP, USR1: the signals the loops act on.
sigset_t server_signals();
// Sets SIG_IGN for the signals that would otherwise end the process and
// that the server does not act on, and SIG_DFL for those it acts on (they
// may come ignored, as under nohup). Process-wide; call before serving.
void ignore_other_signals();

// What SIGHUP reloads, in the order registered. Each part of the server
// that holds something read from a file registers a reload for as long as
// it lives (the returned Registration removes it when destroyed):
//
//     auto r = bm::reload_hooks().add("aliases", [&] { aliases.reload(); });
//
// A reload runs on the main loop; it throws std::exception (keeping what it
// had) when the file cannot be used. The loop calls run_reloads(), which
// writes one log line: "server - reload log=ok users=ok aliases=error: ...".
class ReloadHooks {
public:
    struct Hook {
        std::string what;
        std::function<void()> reload;
    };
    class Registration {
    public:
        Registration() = default;
        Registration(ReloadHooks* hooks, std::list<Hook>::iterator it) : hooks_(hooks), it_(it) {}
        Registration(Registration&& other) noexcept : hooks_(other.hooks_), it_(other.it_) { other.hooks_ = nullptr; }
        Registration& operator=(Registration&& other) noexcept;
        ~Registration();

    private:
        ReloadHooks* hooks_ = nullptr;
        std::list<Hook>::iterator it_;
    };

    [[nodiscard]] Registration add(std::string what, std::function<void()> reload);
    // "log=ok users=ok", or "users=error: <why>" for one that threw.
    std::string run();
    std::size_t size() const { return hooks_.size(); }

private:
    std::list<Hook> hooks_;
};
ReloadHooks& reload_hooks();  // the process's
// Runs the process's reloads and logs the line saying what they did.
void run_reloads(EventLog& log);
// The relay client's settings from the SPEC options (both builds).
RelaySettings relay_settings(const Options& options, const std::string& instance_tag);

}  // namespace bm
