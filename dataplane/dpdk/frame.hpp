// What every frame the stack builds shares, whatever its transport
// protocol: the two MAC addresses and the IPv4 identification, and which
// checksums the NIC computes for us (negotiated at port set-up).
#pragma once

#include <cstdint>

#include "dataplane/dpdk/ethernet.hpp"

namespace bm::dpdk {

struct FrameEnds {
    MacAddress source, destination;
    std::uint16_t ip_identification = 0;
};

struct ChecksumOffload {
    bool ipv4 = false;
    bool tcp = false;
    bool udp = false;
};

}  // namespace bm::dpdk
