#include "dataplane/dpdk/udp.hpp"

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/ipv4.hpp"
#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::dpdk {

DropReason parse_udp(std::span<const std::uint8_t> bytes, std::uint32_t source, std::uint32_t destination,
                     bool verify_checksum, UdpDatagram& out) {
    if (bytes.size() < udp_header_size) return DropReason::udp_truncated;
    std::uint16_t length = load_be16(bytes.data() + 4);
    if (length < udp_header_size || length > bytes.size()) return DropReason::udp_bad_length;
    auto datagram = bytes.first(length);
    if (verify_checksum && load_be16(bytes.data() + 6) != 0) {
        std::uint64_t sum = pseudo_header_sum(source, destination, ip_protocol_udp, length);
        if (!checksum_verifies(checksum_add(sum, datagram))) return DropReason::udp_bad_checksum;
    }
    out.source_port = load_be16(bytes.data());
    out.destination_port = load_be16(bytes.data() + 2);
    out.payload = datagram.subspan(udp_header_size);
    return DropReason::none;
}

std::size_t emit_udp(std::span<std::uint8_t> datagram, const UdpEmit& header) {
    std::uint8_t* p = datagram.data();
    std::uint16_t length = std::uint16_t(datagram.size());
    store_be16(p, header.source_port);
    store_be16(p + 2, header.destination_port);
    store_be16(p + 4, length);
    store_be16(p + 6, 0);
    std::uint64_t sum = pseudo_header_sum(header.source, header.destination, ip_protocol_udp, length);
    std::uint16_t checksum = checksum_finish(checksum_add(sum, datagram));
    store_be16(p + 6, checksum == 0 ? 0xffff : checksum);  // RFC 768: zero means "none"
    return datagram.size();
}

}  // namespace bm::dpdk
