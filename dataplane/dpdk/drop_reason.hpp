// Why a frame was not delivered (STYLE: no silent drops without a counter).
// The wire parsers return one of these; the poll loop counts it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bm::dpdk {

#define BM_DPDK_DROP_REASONS(X)                                                              \
    X(eth_truncated)          /* shorter than an Ethernet header */                           \
    X(eth_not_for_us)         /* unicast to another MAC, or multicast */                     \
    X(eth_unknown_type)       /* not IPv4 or ARP (IPv6, LLDP, VLAN ...) */                  \
    X(multi_segment)          /* chained mbuf: the stack parses contiguous frames only */    \
    X(arp_truncated)                                                                         \
    X(arp_unsupported)        /* not Ethernet/IPv4, or an unknown operation */              \
    X(arp_not_for_us)         /* request for another address (cache may still learn) */     \
    X(ip_truncated)           /* shorter than its header */                                  \
    X(ip_bad_version)                                                                        \
    X(ip_bad_header_length)   /* IHL < 5 */                                                  \
    X(ip_bad_total_length)    /* total length < header, or > what arrived */                \
    X(ip_bad_checksum)                                                                       \
    X(ip_fragment)            /* MF set or offset != 0: no reassembly */                     \
    X(ip_bad_options)         /* an option runs past the header, or has a bad length */     \
    X(ip_source_route)        /* LSRR/SSRR: refused on purpose (README) */                   \
    X(ip_bad_source)          /* broadcast, multicast, loopback or zero source */           \
    X(ip_not_for_us)          /* destination is not our address */                          \
    X(ip_unknown_protocol)                                                                   \
    X(icmp_truncated)                                                                        \
    X(icmp_bad_checksum)                                                                     \
    X(icmp_not_echo_request)  /* other ICMP types are counted, not answered */              \
    X(udp_truncated)                                                                         \
    X(udp_bad_length)         /* length field < 8 or > the IP payload */                    \
    X(udp_bad_checksum)                                                                      \
    X(udp_no_service)         /* no UDP service listens on the port */                      \
    X(tcp_truncated)                                                                         \
    X(tcp_bad_header_length)  /* data offset < 5 or beyond the segment */                   \
    X(tcp_bad_checksum)                                                                      \
    X(tcp_bad_options)        /* an option runs past the header, or has a bad length */     \
    X(tcp_bad_port)           /* port 0 */                                                   \
    X(tx_no_mbuf)             /* the mempool was empty */                                    \
    X(tx_too_big)             /* the frame would not fit one mbuf */                        \
    X(tx_no_route)            /* off-subnet destination and no --gateway */                 \
    X(tx_ring_full)           /* the PMD took none and the staging queue is full */         \
    X(arp_pending_full)       /* too many frames already wait for ARP replies */            \
    X(arp_unresolved)         /* no ARP reply in time for a waiting frame */

enum class DropReason : std::uint8_t {
    none,
#define BM_DPDK_ENUM(name) name,
    BM_DPDK_DROP_REASONS(BM_DPDK_ENUM)
#undef BM_DPDK_ENUM
    count
};

inline constexpr std::size_t drop_reason_count = std::size_t(DropReason::count);

inline const char* drop_reason_name(DropReason reason) {
    static constexpr const char* names[] = {
        "none",
#define BM_DPDK_NAME(name) #name,
        BM_DPDK_DROP_REASONS(BM_DPDK_NAME)
#undef BM_DPDK_NAME
    };
    std::size_t index = std::size_t(reason);
    return index < drop_reason_count ? names[index] : "?";
}

}  // namespace bm::dpdk
