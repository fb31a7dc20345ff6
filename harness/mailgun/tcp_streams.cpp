#include "harness/mailgun/tcp_streams.hpp"

#include <algorithm>
#include <numeric>

#include "tcp/engine.hpp"

namespace bm::mailgun {

namespace {

// RFC 9293 §3.4 sequence arithmetic: b after a (or equal) within 2^31.
bool seq_before(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) < 0; }

// Painted client ranges: start -> (end, server octets acknowledged).
using Painted = std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>>;

// Paints [from, to) where nothing is painted yet.
void paint(Painted& painted, std::uint64_t from, std::uint64_t to, std::uint64_t acked) {
    auto it = painted.upper_bound(from);
    if (it != painted.begin()) from = std::max(from, std::prev(it)->second.first);
    while (from < to) {
        it = painted.lower_bound(from);
        std::uint64_t stop = (it == painted.end() || it->first >= to) ? to : it->first;
        if (stop > from) painted[from] = {stop, acked};
        if (it == painted.end() || it->first >= to) break;
        from = it->second.first;
    }
}

}  // namespace

std::uint32_t StreamAssembler::Direction::base() const {
    if (syn) return isn + 1;  // the SYN occupies one sequence number
    if (pieces.empty()) return 0;
    std::uint32_t lowest = pieces.front().seq;
    for (const Piece& p : pieces)
        if (seq_before(p.seq, lowest)) lowest = p.seq;
    return lowest;
}

StreamAssembler::Conversation& StreamAssembler::conversation_for(const CapturedSegment& s) {
    bool syn = s.flags & tcp::SYN, ack = s.flags & tcp::ACK;
    Key forward{s.source_ip, s.source_port, s.destination_ip, s.destination_port};
    Key backward{s.destination_ip, s.destination_port, s.source_ip, s.source_port};
    auto found = by_key_.find(forward);
    if (found == by_key_.end()) found = by_key_.find(backward);
    if (found != by_key_.end()) {
        Conversation& c = conversations_[found->second];
        // A new SYN on a 4-tuple already used starts a new connection.
        bool reused = syn && !ack && c.to_server.syn && c.to_server.isn != s.seq;
        if (!reused) return c;
    }
    Conversation c;
    // The SYN's sender is the client; without it, the lower port is the
    // server's (mail servers listen on well-known or low ports).
    bool source_is_client = syn ? !ack : s.source_port > s.destination_port;
    c.client_ip = source_is_client ? s.source_ip : s.destination_ip;
    c.client_port = source_is_client ? s.source_port : s.destination_port;
    c.server_ip = source_is_client ? s.destination_ip : s.source_ip;
    c.server_port = source_is_client ? s.destination_port : s.source_port;
    c.start_ns = s.time_ns;
    conversations_.push_back(std::move(c));
    by_key_.erase(backward);
    by_key_[forward] = conversations_.size() - 1;
    return conversations_.back();
}

void StreamAssembler::add(const CapturedSegment& s) {
    Conversation& c = conversation_for(s);
    bool from_client = s.source_ip == c.client_ip && s.source_port == c.client_port;
    Direction& d = from_client ? c.to_server : c.to_client;
    if (s.flags & tcp::SYN) {
        d.syn = true;
        d.isn = s.seq;
    }
    if (s.payload.empty()) return;
    Piece p;
    // Data on a SYN (TCP Fast Open) starts after the SYN's own number.
    p.seq = (s.flags & tcp::SYN) ? s.seq + 1 : s.seq;
    p.data.assign(reinterpret_cast<const char*>(s.payload.data()), s.payload.size());
    p.ack = s.ack;
    p.has_ack = s.flags & tcp::ACK;
    p.order = order_++;
    d.pieces.push_back(std::move(p));
}

std::string StreamAssembler::assemble(const Direction& d, std::uint32_t base, bool& gap) {
    std::vector<std::size_t> order(d.pieces.size());
    std::iota(order.begin(), order.end(), 0);
    auto offset = [&](std::size_t i) { return static_cast<std::uint32_t>(d.pieces[i].seq - base); };
    // By offset, and among equal offsets the first captured first.
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return offset(a) < offset(b); });
    std::string out;
    gap = false;
    for (std::size_t i : order) {
        const Piece& p = d.pieces[i];
        if (seq_before(p.seq, base)) continue;  // before the stream's start: a stray old segment
        std::uint64_t at = offset(i), end = at + p.data.size();
        if (at > out.size()) {
            gap = true;  // never captured: the rest cannot be placed
            break;
        }
        if (end > out.size()) out.append(p.data, out.size() - at, std::string::npos);
    }
    return out;
}

std::vector<ClientRun> StreamAssembler::client_runs(const Direction& to_server, std::uint32_t client_base,
                                                    std::uint32_t server_base, std::size_t client_length,
                                                    std::size_t server_length) {
    // Each octet takes the smallest ACK of the segments carrying it: its
    // first transmission's (the client's ACK never goes back).
    std::vector<const Piece*> pieces;
    for (const Piece& p : to_server.pieces)
        if (p.has_ack && !seq_before(p.seq, client_base)) pieces.push_back(&p);
    auto acked = [&](const Piece* p) {
        std::uint32_t n = p->ack - server_base;
        return static_cast<std::uint64_t>(std::min<std::size_t>(seq_before(p->ack, server_base) ? 0 : n, server_length));
    };
    std::stable_sort(pieces.begin(), pieces.end(), [&](const Piece* a, const Piece* b) { return acked(a) < acked(b); });
    Painted painted;
    for (const Piece* p : pieces) {
        std::uint64_t at = static_cast<std::uint32_t>(p->seq - client_base);
        paint(painted, std::min<std::uint64_t>(at, client_length),
              std::min<std::uint64_t>(at + p->data.size(), client_length), acked(p));
    }
    std::vector<ClientRun> runs;
    std::uint64_t level = 0;
    for (const auto& [start, span] : painted) {
        level = std::max(level, span.second);  // never backwards, whatever the capture says
        if (runs.empty()) runs.push_back({0, level});
        else if (runs.back().server_acked != level) runs.push_back({start, level});
    }
    return runs;
}

std::vector<TcpConversation> StreamAssembler::finish() {
    std::vector<TcpConversation> out;
    for (Conversation& c : conversations_) {
        TcpConversation t;
        t.client_ip = c.client_ip;
        t.client_port = c.client_port;
        t.server_ip = c.server_ip;
        t.server_port = c.server_port;
        t.start_ns = c.start_ns;
        t.saw_syn = c.to_server.syn;
        std::uint32_t client_base = c.to_server.base(), server_base = c.to_client.base();
        t.client_bytes = assemble(c.to_server, client_base, t.client_gap);
        t.server_bytes = assemble(c.to_client, server_base, t.server_gap);
        t.client_runs = client_runs(c.to_server, client_base, server_base, t.client_bytes.size(),
                                    t.server_bytes.size());
        out.push_back(std::move(t));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const TcpConversation& a, const TcpConversation& b) { return a.start_ns < b.start_ns; });
    conversations_.clear();
    by_key_.clear();
    return out;
}

}  // namespace bm::mailgun
