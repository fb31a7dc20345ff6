#include "dataplane/dpdk/tcp_wire.hpp"

#include <algorithm>

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/ipv4.hpp"
#include "dataplane/dpdk/wire_bytes.hpp"

namespace bm::dpdk {
namespace {

enum OptionKind : std::uint8_t {
    end_of_options = 0, no_operation = 1, max_segment_size = 2, window_scale = 3,
    sack_permitted = 4, sack = 5, timestamps = 8,
};

constexpr std::uint8_t max_window_shift = 14;  // RFC 7323 §2.3

// Length a known option must have; 0 for kinds we only skip.
std::size_t required_length(std::uint8_t kind) {
    switch (kind) {
    case max_segment_size: return 4;
    case window_scale: return 3;
    case sack_permitted: return 2;
    case timestamps: return 10;
    default: return 0;
    }
}

}  // namespace

DropReason parse_tcp_options(std::span<const std::uint8_t> options, tcp::TcpOptions& out) {
    out = {};
    std::size_t i = 0;
    while (i < options.size()) {
        std::uint8_t kind = options[i];
        if (kind == end_of_options) break;
        if (kind == no_operation) {
            ++i;
            continue;
        }
        // Every other kind has a length octet that covers kind and length.
        if (i + 1 >= options.size()) return DropReason::tcp_bad_options;
        std::size_t length = options[i + 1];
        if (length < 2 || i + length > options.size()) return DropReason::tcp_bad_options;
        std::size_t required = required_length(kind);
        if (required != 0 && length != required) return DropReason::tcp_bad_options;
        const std::uint8_t* p = options.data() + i + 2;
        switch (kind) {
        case max_segment_size: out.mss = load_be16(p); break;
        case window_scale:
            // RFC 7323 §2.3: a shift above 14 is used as 14.
            out.window_scale = std::int8_t(std::min(p[0], max_window_shift));
            break;
        case sack_permitted: out.sack_permitted = true; break;
        case timestamps:
            out.has_timestamps = true;
            out.ts_value = load_be32(p);
            out.ts_echo = load_be32(p + 4);
            break;
        case sack:
            if ((length - 2) % 8 != 0) return DropReason::tcp_bad_options;
            break;  // SACK blocks are not used by the engine (yet)
        default: break;  // unknown kinds are skipped by their length (RFC 9293 §3.1)
        }
        i += length;
    }
    return DropReason::none;
}

DropReason parse_tcp(std::span<const std::uint8_t> bytes, std::uint32_t source, std::uint32_t destination,
                     bool verify_checksum, tcp::SegmentIn& out) {
    if (bytes.size() < tcp_header_min) return DropReason::tcp_truncated;
    const std::uint8_t* p = bytes.data();
    std::size_t header_length = std::size_t(p[12] >> 4) * 4;
    if (header_length < tcp_header_min || header_length > bytes.size()) return DropReason::tcp_bad_header_length;
    if (verify_checksum) {
        std::uint64_t sum = pseudo_header_sum(source, destination, ip_protocol_tcp, std::uint16_t(bytes.size()));
        if (!checksum_verifies(checksum_add(sum, bytes))) return DropReason::tcp_bad_checksum;
    }
    std::uint16_t source_port = load_be16(p);
    std::uint16_t destination_port = load_be16(p + 2);
    if (source_port == 0 || destination_port == 0) return DropReason::tcp_bad_port;
    auto options = bytes.subspan(tcp_header_min, header_length - tcp_header_min);
    if (DropReason why = parse_tcp_options(options, out.options); why != DropReason::none) return why;
    out.tuple = {destination, destination_port, source, source_port};
    out.seq = load_be32(p + 4);
    out.ack = load_be32(p + 8);
    out.flags = p[13] & 0x3f;  // ECE and CWR (RFC 3168) are not used
    out.window = load_be16(p + 14);
    out.payload = bytes.subspan(header_length);
    return DropReason::none;
}

std::size_t tcp_options_length(const tcp::TcpOptions& o) {
    std::size_t length = 0;
    if (o.mss != 0) length += 4;
    if (o.has_timestamps) length += 12;           // NOP NOP TS, or SACK-permitted TS
    else if (o.sack_permitted) length += 4;       // NOP NOP SACK-permitted
    if (o.window_scale >= 0) length += 4;         // NOP WS
    return length;
}

namespace {

// The layout Linux uses, so every option is 4-byte aligned without EOL.
std::uint8_t* emit_options(std::uint8_t* p, const tcp::TcpOptions& o) {
    if (o.mss != 0) {
        p[0] = max_segment_size;
        p[1] = 4;
        store_be16(p + 2, o.mss);
        p += 4;
    }
    if (o.has_timestamps) {
        if (o.sack_permitted) {
            p[0] = sack_permitted;
            p[1] = 2;
        } else {
            p[0] = no_operation;
            p[1] = no_operation;
        }
        p[2] = timestamps;
        p[3] = 10;
        store_be32(p + 4, o.ts_value);
        store_be32(p + 8, o.ts_echo);
        p += 12;
    } else if (o.sack_permitted) {
        p[0] = no_operation;
        p[1] = no_operation;
        p[2] = sack_permitted;
        p[3] = 2;
        p += 4;
    }
    if (o.window_scale >= 0) {
        p[0] = no_operation;
        p[1] = window_scale;
        p[2] = 3;
        p[3] = std::uint8_t(std::min<int>(o.window_scale, max_window_shift));
        p += 4;
    }
    return p;
}

}  // namespace

std::size_t emit_tcp(std::span<std::uint8_t> segment, const tcp::SegmentOut& h, bool offload) {
    std::uint8_t* p = segment.data();
    std::size_t header_length = tcp_header_min + tcp_options_length(h.options);
    store_be16(p, h.tuple.local_port);
    store_be16(p + 2, h.tuple.remote_port);
    store_be32(p + 4, h.seq);
    store_be32(p + 8, h.ack);
    p[12] = std::uint8_t((header_length / 4) << 4);
    p[13] = h.flags;
    store_be16(p + 14, h.window);
    store_be16(p + 16, 0);
    store_be16(p + 18, 0);  // urgent pointer: we never send urgent data
    emit_options(p + tcp_header_min, h.options);
    std::uint64_t sum = pseudo_header_sum(h.tuple.local_ip, h.tuple.remote_ip, ip_protocol_tcp,
                                          std::uint16_t(segment.size()));
    // With offload the NIC adds the segment to the pseudo-header sum we leave.
    std::uint16_t checksum = offload ? checksum_fold(sum) : checksum_finish(checksum_add(sum, segment));
    store_be16(p + 16, checksum);
    return header_length;
}

std::size_t emit_tcp_frame(std::span<std::uint8_t> out, const FrameEnds& ends, const tcp::SegmentOut& header,
                           std::span<const std::uint8_t> payload_a, std::span<const std::uint8_t> payload_b,
                           ChecksumOffload offload) {
    std::size_t tcp_header = tcp_header_min + tcp_options_length(header.options);
    std::size_t segment_length = tcp_header + payload_a.size() + payload_b.size();
    std::size_t frame_length = ethernet_header_size + ipv4_header_size + segment_length;
    if (frame_length > out.size() || ipv4_header_size + segment_length > 0xffff) return 0;

    emit_ethernet(out, {ends.destination, ends.source, ethertype_ipv4});
    auto ip = out.subspan(ethernet_header_size, ipv4_header_size);
    emit_ipv4(ip, {header.tuple.local_ip, header.tuple.remote_ip, ip_protocol_tcp, std::uint16_t(segment_length),
                   ends.ip_identification, !offload.ipv4});
    auto segment = out.subspan(ethernet_header_size + ipv4_header_size, segment_length);
    std::copy(payload_a.begin(), payload_a.end(), segment.begin() + std::ptrdiff_t(tcp_header));
    std::copy(payload_b.begin(), payload_b.end(), segment.begin() + std::ptrdiff_t(tcp_header + payload_a.size()));
    emit_tcp(segment, header, offload.tcp);
    return frame_length;
}

}  // namespace bm::dpdk
