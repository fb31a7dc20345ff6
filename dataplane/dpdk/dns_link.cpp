#include "dataplane/dpdk/dns_link.hpp"

#include <span>

namespace bm::dpdk {

DnsLink::DnsLink(std::uint32_t server, UdpSender& udp, DnsClient::Answer answer, std::string why_unusable)
    : udp_(udp), client_(server, *this, std::move(answer), {}, std::move(why_unusable)) {}

bool DnsLink::send(std::uint32_t server, std::uint16_t port, std::string_view packet) {
    std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(packet.data()), packet.size());
    return udp_.send_udp(port, server, DnsClient::server_port, bytes);
}

void DnsLink::on_datagram(std::uint32_t source, const UdpDatagram& datagram) {
    std::string_view payload(reinterpret_cast<const char*>(datagram.payload.data()), datagram.payload.size());
    client_.on_datagram(source, datagram.source_port, datagram.destination_port, payload);
}

}  // namespace bm::dpdk
