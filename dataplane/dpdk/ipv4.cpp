#include "dataplane/dpdk/ipv4.hpp"

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::dpdk {
namespace {

constexpr std::uint16_t flag_more_fragments = 0x2000;
constexpr std::uint16_t flag_dont_fragment = 0x4000;
constexpr std::uint16_t fragment_offset_mask = 0x1fff;

}  // namespace

DropReason parse_ipv4(std::span<const std::uint8_t> bytes, bool verify_checksum, Ipv4Packet& out) {
    if (bytes.size() < ipv4_header_size) return DropReason::ip_truncated;
    const std::uint8_t* p = bytes.data();
    if ((p[0] >> 4) != 4) return DropReason::ip_bad_version;
    std::size_t header_length = std::size_t(p[0] & 0x0f) * 4;
    if (header_length < ipv4_header_size) return DropReason::ip_bad_header_length;
    if (header_length > bytes.size()) return DropReason::ip_truncated;
    std::uint16_t total_length = load_be16(p + 2);
    // Shorter than its own header, or longer than what arrived: never
    // read past the frame on the word of a length field.
    if (total_length < header_length || total_length > bytes.size()) return DropReason::ip_bad_total_length;
    if (verify_checksum && !checksum_verifies(checksum_add(0, bytes.first(header_length))))
        return DropReason::ip_bad_checksum;
    std::uint16_t flags_fragment = load_be16(p + 6);
    if ((flags_fragment & flag_more_fragments) || (flags_fragment & fragment_offset_mask))
        return DropReason::ip_fragment;
    if (header_length > ipv4_header_size) return DropReason::ip_options;
    if (p[8] == 0) return DropReason::ip_ttl_zero;

    out.header_length = std::uint8_t(header_length);
    out.tos = p[1];
    out.total_length = total_length;
    out.identification = load_be16(p + 4);
    out.flags_fragment = flags_fragment;
    out.ttl = p[8];
    out.protocol = p[9];
    out.source = load_be32(p + 12);
    out.destination = load_be32(p + 16);
    out.payload = bytes.subspan(header_length, total_length - header_length);
    return DropReason::none;
}

void emit_ipv4(std::span<std::uint8_t> out, const Ipv4Emit& header) {
    std::uint8_t* p = out.data();
    p[0] = 0x45;  // version 4, IHL 5
    p[1] = 0;
    store_be16(p + 2, std::uint16_t(ipv4_header_size + header.payload_length));
    store_be16(p + 4, header.identification);
    store_be16(p + 6, flag_dont_fragment);
    p[8] = default_ttl;
    p[9] = header.protocol;
    store_be16(p + 10, 0);
    store_be32(p + 12, header.source);
    store_be32(p + 16, header.destination);
    if (header.header_checksum)
        store_be16(p + 10, checksum_finish(checksum_add(0, out.first(ipv4_header_size))));
}

bool is_martian_source(std::uint32_t source) {
    std::uint8_t first = std::uint8_t(source >> 24);
    return source == 0 || source == 0xffffffff || first == 127 || (first >= 224);
}

}  // namespace bm::dpdk
