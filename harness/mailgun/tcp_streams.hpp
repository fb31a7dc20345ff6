// Each TCP connection of a capture as its two byte streams, rebuilt from
// the segments the way a receiver would (RFC 9293 §3.10.7.4: data placed
// by sequence number; duplicates and retransmitted overlaps give nothing
// new; a hole the capture never filled cuts the stream there).
//
// For the replay it also keeps, for every client octet, how much of the
// server's stream the client had received when it first sent that octet:
// the ACK field of the first segment that carried it (later copies, being
// retransmissions, can only acknowledge more). Where that value steps up,
// the client sent after reading a reply — a turn of the dialogue.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "harness/mailgun/captured_segment.hpp"

namespace bm::mailgun {

// From client octet `offset` on, the client had received `server_acked`
// octets of the server's stream.
struct ClientRun {
    std::uint64_t offset = 0;
    std::uint64_t server_acked = 0;
    bool operator==(const ClientRun&) const = default;
};

struct TcpConversation {
    std::uint32_t client_ip = 0, server_ip = 0;
    std::uint16_t client_port = 0, server_port = 0;
    std::uint64_t start_ns = 0;  // its first segment (the SYN when captured)
    bool saw_syn = false;        // the client's SYN is in the capture
    std::string client_bytes, server_bytes;
    std::vector<ClientRun> client_runs;  // by offset; the first at 0 when there are client bytes
    bool client_gap = false, server_gap = false;  // a hole cut the stream short
};

class StreamAssembler {
public:
    void add(const CapturedSegment& segment);
    // Every conversation with at least one segment, in order of start.
    std::vector<TcpConversation> finish();

private:
    struct Piece {
        std::uint32_t seq = 0;
        std::string data;
        std::uint32_t ack = 0;
        bool has_ack = false;
        std::uint64_t order = 0;  // capture order
    };
    struct Direction {
        bool syn = false;
        std::uint32_t isn = 0;
        std::vector<Piece> pieces;
        std::uint32_t base() const;  // sequence number of the stream's first octet
    };
    struct Conversation {
        std::uint32_t client_ip = 0, server_ip = 0;
        std::uint16_t client_port = 0, server_port = 0;
        std::uint64_t start_ns = 0;
        Direction to_server, to_client;
    };
    using Key = std::tuple<std::uint32_t, std::uint16_t, std::uint32_t, std::uint16_t>;

    Conversation& conversation_for(const CapturedSegment& s);
    static std::string assemble(const Direction& d, std::uint32_t base, bool& gap);
    static std::vector<ClientRun> client_runs(const Direction& to_server, std::uint32_t client_base,
                                              std::uint32_t server_base, std::size_t client_length,
                                              std::size_t server_length);

    std::map<Key, std::size_t> by_key_;  // the latest conversation of each 4-tuple
    std::vector<Conversation> conversations_;
    std::uint64_t order_ = 0;
};

}  // namespace bm::mailgun
