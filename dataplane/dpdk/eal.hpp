// The EAL as a scope: rte_eal_init in the constructor (throwing with the
// EAL's reason), rte_eal_cleanup when the scope ends. Used by baremail's
// main and by the mailgun's DPDK transport.
#pragma once

#include <getopt.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "dataplane/dpdk/eal_args.hpp"

namespace bm::dpdk {

class Eal {
public:
    explicit Eal(std::vector<std::string> args) : args_(std::move(args)) {
        Argv argv(args_);
        opterr = 1;  // our option parsing silenced getopt; the EAL reports its own errors
        if (rte_eal_init(argv.argc(), argv.argv()) < 0)
            throw std::runtime_error(std::string("EAL initialisation failed: ") + rte_strerror(rte_errno));
    }
    ~Eal() { rte_eal_cleanup(); }
    Eal(const Eal&) = delete;
    Eal& operator=(const Eal&) = delete;

private:
    std::vector<std::string> args_;  // the EAL keeps pointers into them
};

}  // namespace bm::dpdk
