// What both mains share: parse the options, answer -a, run the server, and
// turn any failure into one line on stderr and exit code 2 (SPEC).
#pragma once

#include <functional>

#include "apps/relay/settings.hpp"
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
// The relay client's settings from the SPEC options (both builds).
RelaySettings relay_settings(const Options& options, const std::string& instance_tag);

}  // namespace bm
