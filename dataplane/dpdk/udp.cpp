#include "dataplane/dpdk/udp.hpp"

#include <algorithm>

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/ethernet.hpp"
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

std::size_t emit_udp(std::span<std::uint8_t> datagram, const UdpEmit& header, bool offload) {
    std::uint8_t* p = datagram.data();
    std::uint16_t length = std::uint16_t(datagram.size());
    store_be16(p, header.source_port);
    store_be16(p + 2, header.destination_port);
    store_be16(p + 4, length);
    store_be16(p + 6, 0);
    std::uint64_t sum = pseudo_header_sum(header.source, header.destination, ip_protocol_udp, length);
    if (offload) {
        // The NIC adds the datagram to this sum (and sends 0xffff for 0).
        store_be16(p + 6, checksum_fold(sum));
        return datagram.size();
    }
    std::uint16_t checksum = checksum_finish(checksum_add(sum, datagram));
    store_be16(p + 6, checksum == 0 ? 0xffff : checksum);  // RFC 768: zero means "none"
    return datagram.size();
}

std::size_t emit_udp_frame(std::span<std::uint8_t> out, const FrameEnds& ends, const UdpEmit& header,
                           std::span<const std::uint8_t> payload, ChecksumOffload offload) {
    std::size_t datagram_length = udp_header_size + payload.size();
    std::size_t frame_length = ethernet_header_size + ipv4_header_size + datagram_length;
    if (frame_length > out.size() || ipv4_header_size + datagram_length > 0xffff) return 0;

    emit_ethernet(out, {ends.destination, ends.source, ethertype_ipv4});
    emit_ipv4(out.subspan(ethernet_header_size, ipv4_header_size),
              {header.source, header.destination, ip_protocol_udp, std::uint16_t(datagram_length),
               ends.ip_identification, !offload.ipv4});
    auto datagram = out.subspan(ethernet_header_size + ipv4_header_size, datagram_length);
    std::copy(payload.begin(), payload.end(), datagram.begin() + std::ptrdiff_t(udp_header_size));
    emit_udp(datagram, header, offload.udp);
    return frame_length;
}

}  // namespace bm::dpdk
