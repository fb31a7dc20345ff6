// mailgun: load generator and capture replayer for mail servers (SMTP,
// POP3), with the two transports the server has.
//
//   mailgun --server IP[:PORT] [options]                  (kernel sockets)
//   mailgun [EAL options] -- --transport dpdk --ip A.B.C.D/NN --server ...  (the project's stack)
//
// Options are parsed first, so a bad one touches nothing (exit 2); then the
// scenario (a generated load, or a capture to replay) runs on the chosen
// transport, and the report is printed (and written as JSON).
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string_view>

#include "dataplane/dpdk/eal_args.hpp"
#include "harness/mailgun/dpdk_run.hpp"
#include "harness/mailgun/kernel_transport.hpp"
#include "harness/mailgun/load_scenario.hpp"
#include "harness/mailgun/replay_scenario.hpp"
#include "harness/mailgun/report.hpp"
#include "harness/mailgun/stop_signal.hpp"
#include "harness/mailgun/workload.hpp"

namespace {

// True when the command line has EAL options before a "--".
bool has_eal_options(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::string_view(argv[i]) == "--") return i > 1;
    return false;
}

void print_script_summary(std::ostream& out, const bm::mailgun::ReplayScript& script) {
    std::size_t turns = 0, cut = 0;
    for (const auto& s : script.sessions) {
        turns += s.turns();
        cut += s.cut;
    }
    out << "capture: " << script.connections << " TCP connections, " << script.sessions.size()
        << " SMTP/POP3 sessions to replay (" << turns << " turns), " << script.not_mail
        << " skipped (not SMTP/POP3), " << cut << " with data missing from the capture\n";
}

// --print-script: what each session will send and expect, one line a step.
void print_script(std::ostream& out, const bm::mailgun::ReplayScript& script) {
    for (const auto& s : script.sessions) {
        out << "session " << s.index << " at +" << s.offset_ns / 1000 << " us, port " << s.server_port
            << (s.protocol == bm::mailgun::Protocol::smtp ? " smtp" : " pop3") << (s.cut ? " (cut)" : "") << "\n";
        for (const auto& step : s.steps) {
            std::string first = step.send.substr(0, step.send.find('\n'));
            if (!first.empty() && first.back() == '\r') first.pop_back();
            out << "  send " << step.send.size() << " octets '" << first.substr(0, 60) << "' expect";
            for (const auto& c : step.expect) out << " " << c;
            out << "\n";
        }
    }
}

int run(const bm::mailgun::Workload& workload, bm::dpdk::CommandLine& line, bool eal_given) {
    using namespace bm::mailgun;
    Tally tally;
    install_stop_signals();
    std::unique_ptr<Scenario> scenario;
    ReplayScript script;
    if (workload.replay()) {
        script = load_replay_script(workload.replay_path);
        if (!workload.quiet) print_script_summary(std::cout, script);
        if (workload.print_script) print_script(std::cout, script);
        scenario = std::make_unique<ReplayScenario>(workload, script, tally);
    } else {
        scenario = std::make_unique<LoadScenario>(workload, tally);
    }
    if (workload.transport == TransportKind::dpdk) {
        // No default EAL options: the baremail default (a TAP named bm0)
        // would collide with a server's.
        if (!eal_given) throw std::runtime_error("--transport dpdk needs EAL options before '--' (a --vdev or a NIC)");
        run_on_dpdk(line.eal, workload, tally, *scenario);
    } else {
        KernelTransport transport(workload, tally);
        transport.run(*scenario);
    }
    if (!workload.quiet || workload.json_path.empty()) print_report(std::cout, workload, tally);
    if (!workload.json_path.empty()) write_json_report(workload.json_path, workload, tally);
    return tally.error_total() || tally.mismatch_count ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    bm::dpdk::CommandLine line = bm::dpdk::split_command_line(argc, argv);
    bm::dpdk::Argv app(line.app);
    bm::mailgun::Workload workload;
    try {
        workload = bm::mailgun::parse_workload(app.argc(), app.argv());
    } catch (const bm::mailgun::UsageError& e) {
        std::string_view text = e.what();
        if (text.starts_with("usage:")) {
            std::cout << text << "\n";
            return 0;
        }
        std::cerr << "mailgun: " << text << "\n";
        return 2;
    }
    try {
        return run(workload, line, has_eal_options(argc, argv));
    } catch (const std::exception& e) {
        std::cerr << "mailgun: " << e.what() << "\n";
        return 2;
    }
}
