#include "dataplane/dpdk/eal_args.hpp"

#include <string_view>

namespace bm::dpdk {

std::vector<std::string> default_eal_args() {
    return {"--no-huge", "-m", "512", "--no-pci", "--vdev", "net_tap0,iface=bm0", "--file-prefix", "baremail"};
}

CommandLine split_command_line(int argc, const char* const* argv) {
    CommandLine line;
    std::string program = argc > 0 && argv[0] ? argv[0] : "baremail";
    line.eal.push_back(program);
    line.app.push_back(program);
    int separator = -1;
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--") {
            separator = i;
            break;
        }
    }
    int app_from = separator < 0 ? 1 : separator + 1;
    for (int i = 1; i < separator; ++i) line.eal.push_back(argv[i]);
    for (int i = app_from; i < argc; ++i) line.app.push_back(argv[i]);
    if (line.eal.size() == 1) {
        for (std::string& arg : default_eal_args()) line.eal.push_back(std::move(arg));
    }
    return line;
}

Argv::Argv(std::vector<std::string>& args) {
    pointers_.reserve(args.size() + 1);
    for (std::string& arg : args) pointers_.push_back(arg.data());
    pointers_.push_back(nullptr);
}

}  // namespace bm::dpdk
