// The TCP engine (tcp/) with the protocol machines on it, driven by
// segments from up to six clients, timer runs and store replies, all
// decoded from the input; the machines' output checked from the wire.
//
// Input: 4 settings octets (0: engine limits, see config_for; 1: seed of
// the store's answers), then operations, each an opcode octet and its
// operands (see LLVMFuzzerTestOneInput). Segments a client sends carry
// sequence numbers near what it has sent (an int8 distance), so they land
// in, before and after the window instead of nowhere.
//
// Beyond "no crash": the engine's own invariants after every operation
// (Engine::invariant_violation: SND.UNA =< SND.NXT =< SND.MAX and the
// rest); on the wire: no SYN with RST or FIN, no data on a RST; no segment
// longer than the send MSS (our MSS, and the peer's raised to --min-mss,
// CVE-2019-11479); a retransmission carries the octets first sent at that
// sequence number; an ACK never covers octets the client did not send, and
// never moves back; SMTP and POP3 output is CRLF lines only; every
// maildrop opened is closed once the sessions have ended (lock balance).
#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "apps/hosted_session.hpp"
#include "harness/fuzz/fuzz_support.hpp"
#include "tcp/engine.hpp"

namespace {

using namespace bm;
using namespace bm::fuzz;
using bm::tcp::ACK;
using bm::tcp::FIN;
using bm::tcp::RST;
using bm::tcp::SYN;

constexpr std::uint32_t server_ip = 0x0a630001, client_ip = 0x0a630002;
constexpr std::uint16_t ports[3] = {2500, 11000, 10000};  // smtp, pop3, echo
constexpr int clients = 6;
constexpr std::size_t max_tracked = 1 << 20;  // octets of a stream kept for checks

constexpr bool seq_lt(std::uint32_t a, std::uint32_t b) { return std::int32_t(a - b) < 0; }
constexpr bool seq_le(std::uint32_t a, std::uint32_t b) { return std::int32_t(a - b) <= 0; }

// One client's view of its connection, and what the server sent on it.
struct Client {
    int service = 0;
    std::uint16_t port = 0;
    // The largest MSS its SYNs announced (536 for one without the option):
    // a later SYN does not change what an older connection may use.
    std::uint16_t announced_mss = 0;
    bool synced = false;              // a SYN-ACK arrived
    std::uint32_t iss = 0, next = 0, max_end = 0;  // our sequence space
    std::uint32_t server_iss = 0, received = 0;    // theirs: next octet expected
    bool acked_any = false;
    std::uint32_t last_ack = 0;
    std::string stream;          // the server's octets by offset from server_iss + 1
    std::vector<bool> known;     // which of them have been seen
    std::size_t checked = 0;     // the in-order prefix already checked for CRLF lines

    // A new SYN. What the server sent and ACKed before stays as it was
    // until a SYN-ACK shows a new connection: until then the server may
    // still answer for the old one (RFC 5961 §4 challenge ACK, TIME-WAIT).
    // Both connections' numbers lie within 2^16 of each other, so the
    // highest octet sent stays comparable across them.
    void restart(std::uint32_t seq) {
        iss = next = seq;
        if (max_end == 0) max_end = seq;
    }
};

class Wire final : public tcp::Output {
public:
    Wire(Client* cs, const tcp::EngineConfig& config) : clients_(cs), config_(config) {}

    void emit(const tcp::SegmentOut& s, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) override {
        std::string payload(reinterpret_cast<const char*>(a.data()), a.size());
        payload.append(reinterpret_cast<const char*>(b.data()), b.size());
        check(!((s.flags & SYN) && (s.flags & (RST | FIN))), "segment with SYN and RST or FIN");
        check(!(s.flags & RST) || payload.empty(), "data on a RST");
        check(s.tuple.local_ip == server_ip && s.tuple.remote_ip == client_ip, "segment for another address");
        Client* c = client_for(s.tuple);
        if (!c || (s.flags & RST)) return;
        if ((s.flags & SYN) && (s.flags & ACK)) {
            check(payload.empty(), "data on a SYN-ACK");
            if (!c->synced || s.seq != c->server_iss) {
                c->synced = true;
                c->server_iss = s.seq;
                c->received = s.seq + 1;
                c->acked_any = false;
                c->stream.clear();
                c->known.clear();
                c->checked = 0;
            }
        }
        if (!c->synced) return;
        check_ack(*c, s);
        check_mss(*c, payload.size());
        record(*c, s, payload);
    }

private:
    Client* client_for(const tcp::FourTuple& t) {
        for (int i = 0; i < clients; ++i)
            if (clients_[i].port == t.remote_port && ports[clients_[i].service] == t.local_port) return &clients_[i];
        return nullptr;
    }

    // An ACK covers only what the client sent, and never moves back
    // within one connection.
    void check_ack(Client& c, const tcp::SegmentOut& s) {
        if (!(s.flags & ACK)) return;
        check(seq_le(s.ack, c.max_end), "ACK of octets the client never sent");
        if (c.acked_any && !(s.flags & SYN)) check(seq_le(c.last_ack, s.ack), "ACK moved back");
        c.acked_any = true;
        c.last_ack = s.ack;
        if (seq_lt(c.next, s.ack)) c.next = s.ack;  // it took buffered data
    }

    void check_mss(const Client& c, std::size_t length) {
        std::size_t bound = std::min<std::size_t>(config_.mss, std::max(c.announced_mss, config_.min_mss));
        if (length > bound)
            fail("segment longer than the send MSS", std::to_string(length) + " > " + std::to_string(bound) + " on port " +
                                                         std::to_string(c.port));
    }

    // RFC 9293 §3.10: a retransmission repeats the octets at its sequence.
    void record(Client& c, const tcp::SegmentOut& s, const std::string& payload) {
        std::uint32_t start = s.seq - (c.server_iss + 1);
        if ((s.flags & SYN) || payload.empty() || start >= max_tracked) return;
        std::size_t end = std::min<std::size_t>(start + payload.size(), max_tracked);
        if (c.stream.size() < end) {
            c.stream.resize(end);
            c.known.resize(end);
        }
        for (std::size_t i = start; i < end; ++i) {
            char octet = payload[i - start];
            if (c.known[i]) check(c.stream[i] == octet, "retransmission differs from the first transmission");
            c.stream[i] = octet;
            c.known[i] = true;
        }
        if (s.seq == c.received) c.received += std::uint32_t(payload.size()) + ((s.flags & FIN) ? 1 : 0);
        if (c.service != 2) {  // echo repeats what it was sent; SMTP and POP3 speak in CRLF lines
            // The in-order prefix, from the last octet checked before on
            // (a CR there waited for what follows it).
            std::size_t prefix = c.checked;
            while (prefix < c.known.size() && c.known[prefix]) ++prefix;
            for (std::size_t i = c.checked == 0 ? 0 : c.checked - 1; i < prefix; ++i) {
                if (c.stream[i] == '\r' && i + 1 < prefix)
                    check(c.stream[i + 1] == '\n', "server output not in CRLF lines: bare CR", c.stream.substr(i));
                if (c.stream[i] == '\n')
                    check(i > 0 && c.stream[i - 1] == '\r', "server output not in CRLF lines: bare LF", c.stream.substr(i));
            }
            c.checked = prefix;
        }
    }

    Client* clients_;
    const tcp::EngineConfig& config_;
};

class Log final : public tcp::EventSink {
public:
    void event(std::string_view service, std::string_view peer, std::string_view event,
               std::string_view detail) override {
        check_log_field(service);
        check_log_field(peer);
        check_log_field(event);
        check_log_field(detail);
    }
    bool verbose() const override { return true; }
    void debug(std::uint64_t, std::string_view prefix, std::string_view text) override {
        check_log_field(prefix);
        check_log_field(text);
    }
};

struct StoreCall {
    std::uint64_t token;
    apps::StoreRequest request;
};

class Store final : public tcp::StorePort {
public:
    explicit Store(std::uint8_t seed) : choices_(seed) {}
    void submit(std::uint64_t token, apps::StoreRequest request) override {
        if (std::holds_alternative<apps::DropSpool>(request)) return;  // not waited for
        calls.push_back({token, std::move(request)});
    }

    // Answers the oldest request; a reply its session no longer takes is
    // undone (a maildrop opened for no one is closed, as MailBackend does).
    void answer_one(tcp::Engine& engine, std::uint64_t now_us) {
        StoreCall call = std::move(calls.front());
        calls.pop_front();
        apps::StoreReply reply = reply_to(call.request);
        auto* opened = std::get_if<apps::MaildropOpened>(&reply);
        std::uint32_t handle = opened && opened->outcome == apps::Outcome::ok ? opened->maildrop : 0;
        if (!engine.on_store_reply(call.token, std::move(reply), now_us) && handle != 0) open_.erase(handle);
    }

    bool maildrops_open() const { return !open_.empty(); }
    std::deque<StoreCall> calls;

private:
    apps::StoreReply reply_to(const apps::StoreRequest& request) {
        bool fails = choices_.next(10) == 0;
        if (const auto* r = std::get_if<apps::LookupUser>(&request))
            return apps::UserFound{fails ? apps::Outcome::not_found : apps::Outcome::ok, r->local_part};
        if (std::holds_alternative<apps::Deliver>(request))
            return apps::Delivered{fails ? apps::Outcome::temp_failure : apps::Outcome::ok, "fuzz"};
        if (std::holds_alternative<apps::SpoolChunk>(request))
            return apps::Spooled{fails ? apps::Outcome::no_space : apps::Outcome::ok, 9};
        if (std::holds_alternative<apps::OpenMaildrop>(request)) {
            if (fails) return apps::MaildropOpened{apps::Outcome::auth_failed, 0, {}};
            std::uint32_t handle = next_handle_++;
            open_.insert(handle);
            return apps::MaildropOpened{apps::Outcome::ok, handle, {{text_.size(), "u1"}, {text_.size(), "u2"}}};
        }
        if (const auto* r = std::get_if<apps::ReadMessage>(&request)) {
            check(open_.count(r->maildrop) == 1, "read from a maildrop that is not open");
            std::string piece = text_.substr(std::min<std::size_t>(r->offset, text_.size()), r->max_bytes);
            return apps::MessageText{apps::Outcome::ok, piece, r->offset + piece.size() >= text_.size()};
        }
        if (const auto* r = std::get_if<apps::CloseMaildrop>(&request)) {
            check(open_.erase(r->maildrop) == 1, "closed a maildrop that is not open");
            return apps::MaildropClosed{apps::Outcome::ok};
        }
        fail("the engine's sessions asked the store for something unexpected");
    }

    Choices choices_;
    std::set<std::uint32_t> open_;
    std::uint32_t next_handle_ = 1;
    const std::string text_ = "Subject: x\r\n\r\n.\r\n..two\r\nbody line\r\n";
};

// Settings octet 0: bit 0 --min-mss 200, bit 1 our MSS 300, bit 2 a
// receive window of 2000, bit 3 four TCBs and a SYN backlog of two (SYN
// cookies), bit 4 two connections per service (refusals), bit 5 no window
// scaling offered.
tcp::EngineConfig config_for(std::uint8_t bits) {
    tcp::EngineConfig c;
    c.tcb_capacity = (bits & 8) ? 4 : 16;
    c.syn_backlog = (bits & 8) ? 2 : 16;
    c.max_conn_per_service = (bits & 16) ? 2 : 16;
    c.buffer_bytes = 2u << 20;
    if (bits & 1) c.min_mss = 200;
    if (bits & 2) c.mss = 300;
    if (bits & 4) c.receive_window = 2000;
    if (bits & 32) c.window_scale = 0;
    c.fixed_isn = true;
    c.isn_secret[0] = 1;
    // Short idle and TIME-WAIT times: reached within an input's time steps.
    for (std::uint32_t& s : c.idle_timeout_s) s = 20;
    c.time_wait_ms = 2000;
    c.local_ip = server_ip;
    apps::HostConfig host;
    host.smtp.hostname = "mx.test";
    host.smtp.local_domains = {"mx.test"};
    host.smtp.now = [] { return std::time_t(1700000000); };
    host.pop3.hostname = "mx.test";
    host.pop3.now = [] { return std::time_t(1700000000); };
    host.pop3.login_delay_ms = 50;
    host.may_relay = [](std::uint32_t) { return false; };
    c.services = std::make_shared<const apps::ServiceHost>(std::move(host));
    return c;
}

// Reads operands; past the end every read is 0.
struct Ops {
    std::string_view in;
    std::size_t at = 0;
    bool done() const { return at >= in.size(); }
    std::uint8_t u8() { return at < in.size() ? std::uint8_t(in[at++]) : 0; }
    std::uint16_t u16() { return std::uint16_t(u8() << 8 | u8()); }
    std::string_view bytes(std::size_t n) {
        std::string_view out = in.substr(std::min(at, in.size()), n);
        at += n;
        return out;
    }
};

struct Run {
    tcp::EngineConfig config;
    Client cs[clients];
    Wire wire{cs, config};
    Store store;
    Log log;
    std::unique_ptr<tcp::Engine> engine;
    std::uint64_t now_us = 1'000'000'000;

    Run(std::uint8_t bits, std::uint8_t seed) : config(config_for(bits)), store(seed) {
        for (int i = 0; i < clients; ++i) {
            cs[i].service = i % 3;
            cs[i].port = std::uint16_t(40000 + i);
        }
        engine = std::make_unique<tcp::Engine>(config, wire, store, log);
    }

    void check_engine() {
        std::string broken = engine->invariant_violation();
        check(broken.empty(), "engine invariant", broken);
        check(engine->open_connections() <= config.tcb_capacity, "more connections open than TCBs");
    }

    // A segment from client `c`: flags, a distance from its next sequence
    // number, the ACK it has (or a distance from it), window, payload.
    void segment(Client& c, Ops& ops) {
        std::uint8_t flags = ops.u8() & 0x3f;
        auto distance = std::int8_t(ops.u8());
        std::uint8_t ack_mode = ops.u8();
        std::uint16_t window = std::uint16_t(ops.u8() << 8 | 0xff);
        std::size_t length = ops.u8() % 128;
        tcp::SegmentIn s;
        s.tuple = {server_ip, ports[c.service], client_ip, c.port};
        if (flags & SYN) {
            c.restart(0x10000000u * std::uint32_t(c.service + 1) + ops.u16());
            s.options.mss = (ops.u8() & 1) ? ops.u16() : 0;
            c.announced_mss = std::max<std::uint16_t>(c.announced_mss, s.options.mss ? s.options.mss : 536);
            s.options.window_scale = std::int8_t(ops.u8() % 16) - 1;
        }
        s.seq = c.next + std::uint32_t(std::int32_t(distance));
        s.ack = c.received + ((ack_mode & 0x80) ? std::uint32_t(std::int8_t(ack_mode << 1)) : 0);
        s.flags = flags;
        s.window = window;
        std::string_view payload = ops.bytes(length);
        s.payload = {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
        std::uint32_t end = s.seq + std::uint32_t(payload.size()) + ((flags & SYN) ? 1 : 0) + ((flags & FIN) ? 1 : 0);
        if (!(flags & RST) && seq_lt(c.max_end, end)) c.max_end = end;
        if (distance == 0 && !(flags & RST)) c.next = end;
        engine->on_segment(s, now_us);
    }

    void settle_at_end() {
        engine->shutdown(now_us);
        check_engine();
        // A minute a step: each step is a full turn of the timer wheel,
        // whatever the length, so long steps keep the run short.
        for (int round = 0; round < 200; ++round) {
            while (!store.calls.empty()) store.answer_one(*engine, now_us);
            if (engine->open_connections() == 0 && store.calls.empty()) break;
            now_us += 60'000'000;
            engine->on_timers(now_us);
            check_engine();
        }
        while (!store.calls.empty()) store.answer_one(*engine, now_us);
        check(engine->open_connections() == 0, "connections still open long after shutdown");
        check(!store.maildrops_open(), "a maildrop stays locked after its session ended");
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size, 4);
    Run run(in.setting(0), in.setting(1));
    Ops ops{in.stream};
    for (int steps = 0; !ops.done() && steps < 2000; ++steps) {
        std::uint8_t op = ops.u8();
        switch (op % 8) {
        case 0: case 1: case 2: case 3:  // a segment from client (op / 8) % 6
            run.segment(run.cs[(op / 8) % clients], ops);
            break;
        case 4:  // time passes: up to 255 ms, or up to 255 s
            run.now_us += std::uint64_t(ops.u8()) * ((op & 0x80) ? 1'000'000 : 1'000);
            run.engine->on_timers(run.now_us);
            break;
        case 5:  // the store answers its oldest request
            if (!run.store.calls.empty()) run.store.answer_one(*run.engine, run.now_us);
            break;
        case 6: {  // a client's in-order data, ACKing all it has: a whole command line
            Client& c = run.cs[(op / 8) % clients];
            std::size_t length = ops.u8() % 200;
            std::string_view payload = ops.bytes(length);
            tcp::SegmentIn s;
            s.tuple = {server_ip, ports[c.service], client_ip, c.port};
            s.seq = c.next;
            s.ack = c.received;
            s.flags = ACK;
            s.window = 0xffff;
            s.payload = {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
            c.next += std::uint32_t(payload.size());
            if (seq_lt(c.max_end, c.next)) c.max_end = c.next;
            run.engine->on_segment(s, run.now_us);
            break;
        }
        case 7:
            if (op & 0x80) {  // server shutdown (once is enough to matter)
                run.engine->shutdown(run.now_us);
            } else {  // the store answers everything it has
                while (!run.store.calls.empty()) run.store.answer_one(*run.engine, run.now_us);
            }
            break;
        }
        run.check_engine();
    }
    run.settle_at_end();
    return 0;
}
