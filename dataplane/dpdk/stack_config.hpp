// The DPDK build's stack settings from the command line: our address,
// subnet and gateway (--ip, --gateway), and the engine's configuration
// (listeners, MSS from the port's MTU, timeouts, ISN secret, the hosted
// services).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dataplane/common/options.hpp"
#include "dataplane/dpdk/ipv4.hpp"
#include "dataplane/dpdk/port.hpp"
#include "tcp/engine.hpp"

namespace bm::dpdk {

// Our address, subnet and gateway from --ip/--gateway. Throws
// std::runtime_error when the gateway is not on our subnet (checked before
// the EAL starts, so a bad combination touches nothing).
struct Addressing {
    Subnet subnet;
    std::optional<std::uint32_t> gateway;
};
Addressing addressing(const Options& options);

// `instance_tag` keeps queue ids apart across restarts (options.hpp).
tcp::EngineConfig engine_config(const Options& options, const Port& port, const std::string& instance_tag);

}  // namespace bm::dpdk
