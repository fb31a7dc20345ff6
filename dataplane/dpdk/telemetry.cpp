#include "dataplane/dpdk/telemetry.hpp"

#include <rte_telemetry.h>

#include <atomic>
#include <string>

namespace bm::dpdk {
namespace {

// The telemetry callback takes no user argument.
std::atomic<const Counters*> registered{nullptr};

int stats(const char*, const char*, rte_tel_data* data) {
    const Counters* counters = registered.load();
    if (!counters) return -1;
    rte_tel_data_start_dict(data);
    counters->for_each([&](std::string_view group, std::string_view name, std::uint64_t value) {
        std::string key = std::string(group) + "_" + std::string(name);
        rte_tel_data_add_dict_u64(data, key.c_str(), value);
    });
    return 0;
}

}  // namespace

void register_telemetry(const Counters& counters) {
    registered.store(&counters);
    rte_telemetry_register_cmd("/baremail/stats", stats,
                               "Returns the baremail counters (port, protocols, drops, TCP). No parameters");
}

}  // namespace bm::dpdk
