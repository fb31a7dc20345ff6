// A message text sent while it is read from the store, one piece at a
// time: POP3 RETR and TOP (RFC 1939 §3) and the relay client's DATA (RFC
// 5321 §4.5.2). Each piece is dot-stuffed on its way out; the next is asked
// for only once the connection has room for it (Session::on_writable), so a
// message of any size costs a session about one piece. The machine keeps
// the protocol side (which request reads a piece, what a failure means);
// this keeps the pacing, the stuffing and the terminating line.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>

#include "apps/dot_stuffer.hpp"
#include "apps/session.hpp"

namespace bm::apps {

class PieceStream {
public:
    // A piece is asked for with what the connection can take now, within
    // these bounds: big enough that a store round trip carries real work,
    // small enough that a session never holds much of a message.
    static constexpr std::uint32_t min_piece = 4 * 1024;
    static constexpr std::uint32_t max_piece = 64 * 1024;

    static std::uint32_t piece_size(const Transport& transport) {
        return static_cast<std::uint32_t>(std::clamp<std::size_t>(transport.send_room(), min_piece, max_piece));
    }

    // Whether the next piece may be asked for now; if not, it waits for
    // room, and take_room() says when it came.
    bool room_for_next(const Transport& transport) {
        awaiting_room_ = transport.send_room() < min_piece;
        return !awaiting_room_;
    }
    // From on_writable: true (once) when a piece was waiting for room.
    bool take_room() { return std::exchange(awaiting_room_, false); }
    bool awaiting_room() const { return awaiting_room_; }

    void send(std::string_view piece, Transport& transport) {
        stuffer_.send(piece, transport);
        offset_ += piece.size();
    }
    // The store promises CRLF lines; should the text lack its final CRLF
    // anyway, one is added so the terminating "." stands on a line of its own.
    void finish(Transport& transport) const { transport.send(stuffer_.mid_line() ? "\r\n.\r\n" : ".\r\n"); }

    // Octets of the text sent so far (the offset of the next piece).
    std::uint64_t offset() const { return offset_; }

private:
    DotStuffer stuffer_;
    std::uint64_t offset_ = 0;
    bool awaiting_room_ = false;
};

}  // namespace bm::apps
