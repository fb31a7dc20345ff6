// The values the engine and the wire code share: a segment as parsed from
// a frame (SegmentIn), a segment to be framed (SegmentOut), and Output, the
// one way segments leave the engine. Nothing here knows what rides on TCP,
// so dataplane/dpdk's wire library includes it without pulling apps/ in.
#pragma once

#include <cstdint>
#include <span>

namespace bm::tcp {

// Host byte order throughout.
struct FourTuple {
    std::uint32_t local_ip = 0;
    std::uint16_t local_port = 0;
    std::uint32_t remote_ip = 0;
    std::uint16_t remote_port = 0;
    bool operator==(const FourTuple&) const = default;
};

enum Flag : std::uint8_t { FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20 };

struct TcpOptions {
    std::uint16_t mss = 0;        // 0: absent
    std::int8_t window_scale = -1;  // -1: absent
    bool sack_permitted = false;
    bool has_timestamps = false;
    std::uint32_t ts_value = 0, ts_echo = 0;
};

struct SegmentIn {
    FourTuple tuple;  // local = our side (destination of the packet)
    std::uint32_t seq = 0, ack = 0;
    std::uint8_t flags = 0;
    std::uint16_t window = 0;  // as on the wire (unscaled)
    TcpOptions options;
    std::span<const std::uint8_t> payload;
};

struct SegmentOut {
    FourTuple tuple;  // local = source of the packet
    std::uint32_t seq = 0, ack = 0;
    std::uint8_t flags = 0;
    std::uint16_t window = 0;  // already scaled down for the wire
    TcpOptions options;
};

// Implemented by the dataplane: build IPv4 + TCP (checksums) around the
// header and payload and queue the frame for the next tx burst. The payload
// may come in two pieces (a wrapped send buffer); their bytes are only valid
// during the call.
class Output {
public:
    virtual void emit(const SegmentOut& segment, std::span<const std::uint8_t> payload_a,
                      std::span<const std::uint8_t> payload_b) = 0;

protected:
    ~Output() = default;
};

}  // namespace bm::tcp
