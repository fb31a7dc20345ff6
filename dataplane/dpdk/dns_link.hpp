// The relay client's DNS lookups on the DPDK build: the shared DnsClient
// (apps/dns/client) whose datagrams are the stack's own UDP. Each query
// listens on a random port of its own (RFC 5452 §9.2); the stack hands this
// receiver every datagram to one of those ports.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "apps/dns/client.hpp"
#include "dataplane/dpdk/udp_ports.hpp"

namespace bm::dpdk {

class DnsLink final : public DnsTransport, public UdpReceiver {
public:
    // `server` 0: no usable server (see DnsClient), `why_unusable` says why.
    DnsLink(std::uint32_t server, UdpSender& udp, DnsClient::Answer answer, std::string why_unusable);
    DnsLink(const DnsLink&) = delete;
    DnsLink& operator=(const DnsLink&) = delete;

    DnsClient& client() { return client_; }

    // DnsTransport: the stack listens on whatever port it is told.
    std::uint16_t open_port(std::uint16_t suggestion) override { return suggestion; }
    void close_port(std::uint16_t) override {}
    bool send(std::uint32_t server, std::uint16_t port, std::string_view packet) override;

    // UdpReceiver
    bool listens_on(std::uint16_t local_port) const override { return client_.listens_on(local_port); }
    void on_datagram(std::uint32_t source, const UdpDatagram& datagram) override;

private:
    UdpSender& udp_;
    DnsClient client_;
};

}  // namespace bm::dpdk
