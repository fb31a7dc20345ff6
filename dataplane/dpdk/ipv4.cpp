#include "dataplane/dpdk/ipv4.hpp"

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::dpdk {
namespace {

constexpr std::uint16_t flag_more_fragments = 0x2000;
constexpr std::uint16_t flag_dont_fragment = 0x4000;
constexpr std::uint16_t fragment_offset_mask = 0x1fff;

// RFC 791 option types that need a length octet walk; these two only are
// single octets.
constexpr std::uint8_t option_end = 0, option_nop = 1;
constexpr std::uint8_t option_lsrr = 0x83, option_ssrr = 0x89;

// RFC 1122 §3.2.1.8: a host passes the options it does not implement by
// and ignores them (record route, timestamp, router alert ...). The
// source-route options are the exception, on purpose: honouring them would
// mean answering along a path the sender chose, which is how they are used
// to spoof; Linux drops them too (accept_source_route = 0).
DropReason check_options(std::span<const std::uint8_t> options) {
    std::size_t i = 0;
    while (i < options.size()) {
        std::uint8_t type = options[i];
        if (type == option_end) break;
        if (type == option_nop) {
            ++i;
            continue;
        }
        if (i + 1 >= options.size()) return DropReason::ip_bad_options;
        std::size_t length = options[i + 1];
        if (length < 2 || i + length > options.size()) return DropReason::ip_bad_options;
        if (type == option_lsrr || type == option_ssrr) return DropReason::ip_source_route;
        i += length;
    }
    return DropReason::none;
}

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
    if (header_length > ipv4_header_size) {
        DropReason options = check_options(bytes.subspan(ipv4_header_size, header_length - ipv4_header_size));
        if (options != DropReason::none) return options;
    }
    // RFC 1122 §3.2.1.7: a host must not drop a datagram for its TTL (0
    // included); TTL is for routers to decrement.

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
