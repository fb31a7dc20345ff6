#include "dataplane/dpdk/udp_ports.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace bm::dpdk {
namespace {

struct Listener final : UdpReceiver {
    std::uint16_t port = 0;
    std::vector<std::uint32_t> sources;
    bool listens_on(std::uint16_t local_port) const override { return local_port == port; }
    void on_datagram(std::uint32_t source, const UdpDatagram&) override { sources.push_back(source); }
};

UdpDatagram to_port(std::uint16_t port) {
    UdpDatagram d;
    d.source_port = 53;
    d.destination_port = port;
    return d;
}

TEST(UdpPorts, DatagramReachesTheReceiverListeningOnItsPort) {
    Listener a, b;
    a.port = 50000;
    b.port = 50001;
    UdpPorts ports;
    ASSERT_TRUE(ports.bind(a));
    ASSERT_TRUE(ports.bind(b));
    EXPECT_TRUE(ports.deliver(1, to_port(50001)));
    EXPECT_TRUE(a.sources.empty());
    EXPECT_EQ(b.sources, std::vector<std::uint32_t>{1});
}

TEST(UdpPorts, Rfc1122_4_1_3_1_NoListenerIsReportedToTheCaller) {
    Listener a;
    a.port = 50000;
    UdpPorts ports;
    ports.bind(a);
    EXPECT_FALSE(ports.deliver(1, to_port(9)));
    EXPECT_TRUE(a.sources.empty());
}

TEST(UdpPorts, FullTableRefusesABinding) {
    std::vector<Listener> listeners(UdpPorts::capacity + 1);
    UdpPorts ports;
    for (std::size_t i = 0; i < UdpPorts::capacity; ++i) EXPECT_TRUE(ports.bind(listeners[i]));
    EXPECT_FALSE(ports.bind(listeners.back()));
}

}  // namespace
}  // namespace bm::dpdk
