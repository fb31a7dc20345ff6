#include "dataplane/common/resolv_conf.hpp"

#include <fstream>
#include <sstream>

#include "apps/ipv4_text.hpp"

namespace bm {

std::string system_nameserver(const std::string& resolv_conf) {
    std::ifstream in(resolv_conf);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string key, value;
        words >> key >> value;
        if (key == "nameserver" && parse_ipv4(value)) return value;
    }
    return {};
}

}  // namespace bm
