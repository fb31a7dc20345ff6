// The DPDK build's wire parsers (dataplane/dpdk: Ethernet, ARP, IPv4,
// UDP, TCP with its options, ICMP echo) against any frame, the way the
// poll loop chains them.
//
// Input: 1 settings octet (bit 0: verify checksums in software, as
// without offload), then the Ethernet frame.
//
// Beyond "no crash": every span a parser hands on lies inside what it was
// given and has the length the header says (parsing never trusts a length
// field); what parses re-emits and parses back to the same values with
// checksums that verify (ARP octet for octet; TCP seq, ack, flags, window,
// ports, options and payload; UDP ports and payload; an ICMP echo reply
// that verifies).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/dpdk/arp.hpp"
#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/ethernet.hpp"
#include "dataplane/dpdk/icmp.hpp"
#include "dataplane/dpdk/ipv4.hpp"
#include "dataplane/dpdk/tcp_wire.hpp"
#include "dataplane/dpdk/udp.hpp"
#include "harness/fuzz/fuzz_support.hpp"

namespace {

using namespace bm;
using namespace bm::dpdk;
using namespace bm::fuzz;
using Bytes = std::span<const std::uint8_t>;

void check_inside(Bytes part, Bytes whole, const char* what) {
    check(part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size()),
          what);
}

void check_arp(Bytes bytes) {
    ArpPacket arp;
    if (parse_arp(bytes, arp) != DropReason::none) return;
    std::uint8_t out[arp_packet_size];
    emit_arp(out, arp);
    check(std::memcmp(out, bytes.data(), arp_packet_size) == 0, "ARP does not re-emit octet for octet");
}

void check_tcp(const Ipv4Packet& ip, bool verify) {
    tcp::SegmentIn in;
    if (parse_tcp(ip.payload, ip.source, ip.destination, verify, in) != DropReason::none) return;
    check_inside(in.payload, ip.payload, "TCP payload outside the datagram");
    check(in.payload.size() + tcp_header_min <= ip.payload.size(), "TCP payload longer than the segment allows");
    tcp::SegmentOut out;
    out.tuple = {in.tuple.remote_ip, in.tuple.remote_port, in.tuple.local_ip, in.tuple.local_port};
    out.seq = in.seq;
    out.ack = in.ack;
    out.flags = in.flags;
    out.window = in.window;
    out.options = in.options;
    std::vector<std::uint8_t> frame(ethernet_header_size + ipv4_header_size + tcp_header_max + in.payload.size());
    std::size_t n = emit_tcp_frame(frame, {}, out, in.payload, {}, {});
    if (n == 0) return;  // too long for one datagram of ours
    Ipv4Packet ip2;
    check(parse_ipv4(Bytes(frame).subspan(ethernet_header_size, n - ethernet_header_size), true, ip2) ==
              DropReason::none,
          "re-emitted IPv4 header does not parse");
    tcp::SegmentIn back;
    check(parse_tcp(ip2.payload, ip2.source, ip2.destination, true, back) == DropReason::none,
          "re-emitted TCP segment does not parse (or its checksum fails)");
    check(back.tuple == in.tuple && back.seq == in.seq && back.ack == in.ack && back.flags == in.flags &&
              back.window == in.window,
          "TCP header changed in a round trip");
    const tcp::TcpOptions &a = in.options, &b = back.options;
    check(a.mss == b.mss && a.window_scale == b.window_scale && a.sack_permitted == b.sack_permitted &&
              a.has_timestamps == b.has_timestamps && (!a.has_timestamps || (a.ts_value == b.ts_value && a.ts_echo == b.ts_echo)),
          "TCP options changed in a round trip");
    check(std::equal(back.payload.begin(), back.payload.end(), in.payload.begin(), in.payload.end()),
          "TCP payload changed in a round trip");
}

void check_udp(const Ipv4Packet& ip, bool verify) {
    UdpDatagram udp;
    if (parse_udp(ip.payload, ip.source, ip.destination, verify, udp) != DropReason::none) return;
    check_inside(udp.payload, ip.payload, "UDP payload outside the datagram");
    std::vector<std::uint8_t> frame(ethernet_header_size + ipv4_header_size + 8 + udp.payload.size());
    std::size_t n = emit_udp_frame(frame, {}, {ip.source, ip.destination, udp.source_port, udp.destination_port},
                                   udp.payload, {});
    if (n == 0) return;
    Ipv4Packet ip2;
    check(parse_ipv4(Bytes(frame).subspan(ethernet_header_size, n - ethernet_header_size), true, ip2) ==
              DropReason::none,
          "re-emitted IPv4 header does not parse");
    UdpDatagram back;
    check(parse_udp(ip2.payload, ip2.source, ip2.destination, true, back) == DropReason::none,
          "re-emitted UDP datagram does not parse (or its checksum fails)");
    check(back.source_port == udp.source_port && back.destination_port == udp.destination_port &&
              std::equal(back.payload.begin(), back.payload.end(), udp.payload.begin(), udp.payload.end()),
          "UDP datagram changed in a round trip");
}

void check_icmp(const Ipv4Packet& ip) {
    std::vector<std::uint8_t> message(ip.payload.begin(), ip.payload.end());
    std::vector<std::uint8_t> before = message;
    if (answer_echo_request(message) != DropReason::none) {
        check(message == before, "a refused ICMP message was changed");
        return;
    }
    check(message.size() >= icmp_header_size && message[0] == icmp_echo_reply, "echo reply is not type 0");
    check(checksum_verifies(checksum_add(0, message)), "echo reply checksum does not verify");
    check(std::equal(message.begin() + 4, message.end(), before.begin() + 4), "echo reply changed id, sequence or data");
}

void check_ipv4(Bytes bytes, bool verify) {
    Ipv4Packet ip;
    if (parse_ipv4(bytes, verify, ip) != DropReason::none) return;
    check(ip.header_length >= ipv4_header_size && ip.header_length <= 60, "IPv4 header length out of range");
    check(ip.total_length <= bytes.size(), "IPv4 total length past the frame");
    check(ip.payload.size() == std::size_t(ip.total_length - ip.header_length), "IPv4 payload length wrong");
    check_inside(ip.payload, bytes, "IPv4 payload outside the frame");
    if (ip.protocol == ip_protocol_tcp) check_tcp(ip, verify);
    if (ip.protocol == ip_protocol_udp) check_udp(ip, verify);
    if (ip.protocol == ip_protocol_icmp) check_icmp(ip);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size, 1);
    Bytes frame(reinterpret_cast<const std::uint8_t*>(in.stream.data()), in.stream.size());
    EthernetHeader ethernet;
    if (parse_ethernet(frame, ethernet) != DropReason::none) return 0;
    Bytes payload = frame.subspan(ethernet_header_size);
    if (ethernet.ethertype == ethertype_arp) check_arp(payload);
    if (ethernet.ethertype == ethertype_ipv4) check_ipv4(payload, (in.setting(0) & 1) != 0);
    return 0;
}
