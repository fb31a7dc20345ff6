// Splitting `baremail [EAL options] -- [options]` (the DPDK convention)
// into the EAL's argv and ours, and the default EAL options (SPEC "Command
// line") used when none are given.
#pragma once

#include <string>
#include <vector>

namespace bm::dpdk {

// A TAP port on any Linux host, no hugepages, no PCI scan. SPEC's default,
// plus a file prefix of our own so the EAL's runtime files (and the
// telemetry socket, /var/run/dpdk/baremail/) don't collide with another
// DPDK process using the default prefix.
std::vector<std::string> default_eal_args();

struct CommandLine {
    std::vector<std::string> eal;  // argv[0] first, then the EAL options
    std::vector<std::string> app;  // argv[0] first, then ours (for getopt)
};

// Everything before the first "--" is the EAL's, everything after it ours.
// Without "--", or with nothing before it, the EAL gets the defaults; and
// without "--" every argument is ours (so `baremail -d DIR` just works).
CommandLine split_command_line(int argc, const char* const* argv);

// argv-style view (char*) of strings that outlive it; getopt and
// rte_eal_init may permute the pointers, never the strings.
class Argv {
public:
    explicit Argv(std::vector<std::string>& args);
    int argc() const { return int(pointers_.size()) - 1; }
    char** argv() { return pointers_.data(); }

private:
    std::vector<char*> pointers_;  // null-terminated
};

}  // namespace bm::dpdk
