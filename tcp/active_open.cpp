// Active open, RFC 9293 §3.10.1 OPEN call in CLOSED state: "create a new
// transmission control block ... An initial send sequence number (ISS) is
// selected. A SYN segment of the form <SEQ=ISS><CTL=SYN> is sent. Set
// SND.UNA to ISS, SND.NXT to ISS+1, enter SYN-SENT state, and return."
// What follows the SYN is input.cpp (§3.10.7.3 SYN-SENT) and timers.cpp
// (SYN retransmission); the session is built by the caller's
// ActiveOpenHandler once ESTABLISHED (session_glue.cpp).
//
// Read first: RFC 9293 §3.10.1, §3.10.7.3; RFC 6056 §3.3.3; RFC 6298 §5.
#include <array>

#include "tcp/engine_impl.hpp"

namespace bm::tcp {
namespace {

void put32(std::uint8_t* at, std::uint32_t value) {
    at[0] = std::uint8_t(value >> 24);
    at[1] = std::uint8_t(value >> 16);
    at[2] = std::uint8_t(value >> 8);
    at[3] = std::uint8_t(value);
}

}  // namespace

ConnectResult EngineCore::connect(const ActiveOpen& request, ActiveOpenHandler& handler) {
    ConnectResult result;
    result.tuple = {request.local_ip ? request.local_ip : config.local_ip, 0, request.remote_ip,
                    request.remote_port};
    if (stopping) {
        result.error = "shutting down";
        return result;
    }
    if (result.tuple.local_ip == 0) {
        result.error = "no local address";
        return result;
    }
    if (request.remote_ip == 0 || request.remote_port == 0) {
        result.error = "no remote address";
        return result;
    }
    if (table.full()) reclaim_time_wait();
    if (table.full()) {
        result.error = "no free TCB";
        return result;
    }
    if (!choose_local_port(result.tuple)) {
        result.error = "no free local port";
        return result;
    }
    Tcb& tcb = *table.insert(result.tuple);
    static_cast<TcbVars&>(tcb) = TcbVars{};
    tcb.state = State::syn_sent;
    tcb.active_open = true;
    tcb.opener = &handler;
    ++open;
    ++counters.active_opens;
    // RFC 6528: the same F(4-tuple) + clock as a passive open's ISS.
    tcb.iss = isn.isn(result.tuple, now_us);
    tcb.snd_una = tcb.iss;
    tcb.snd_nxt = tcb.snd_max = tcb.iss + 1;
    tcb.last_activity_us = now_us;
    tcb.timing = true;  // the SYN-ACK gives the first RTT sample (Karn permitting)
    tcb.timed_seq = tcb.iss;
    tcb.timed_at_us = now_us;
    transmit(tcb, tcb.iss, 0, SYN);
    tcb.retransmit_at = now_us + tcb.rto.current_us();  // RFC 6298 (2.1): 1 s
    arm(tcb);
    result.handle = ((std::uint64_t(tcb.slot) + 1) << 32) | tcb.incarnation;
    return result;
}

// RFC 6056 §3.3.3, Algorithm 3 (simple hash-based): the search starts at
// F(local IP, remote IP, remote port, secret) + next_ephemeral, so an
// off-path attacker cannot guess the port, and each destination walks its
// own sequence (the same port comes back for a destination only after the
// whole range). A port is suitable if it is no listener's and the 4-tuple
// has no TCB (TIME-WAIT included: RFC 6056 §2.3 avoids reusing it).
bool EngineCore::choose_local_port(FourTuple& tuple) {
    std::uint32_t first = std::min(config.ephemeral_first, config.ephemeral_last);
    std::uint32_t count = std::max(config.ephemeral_first, config.ephemeral_last) - first + 1;
    std::array<std::uint8_t, 10> input{};
    put32(input.data(), tuple.local_ip);
    put32(input.data() + 4, tuple.remote_ip);
    input[8] = std::uint8_t(tuple.remote_port >> 8);
    input[9] = std::uint8_t(tuple.remote_port);
    std::uint32_t offset = std::uint32_t(siphash24(port_key, input));
    for (std::uint32_t tries = 0; tries < count; ++tries) {
        tuple.local_port = std::uint16_t(first + (port_counter++ + offset) % count);
        if (tuple.local_port == 0 || service_for(tuple.local_port)) continue;
        if (!table.find(tuple)) return true;
    }
    tuple.local_port = 0;
    return false;
}

}  // namespace bm::tcp
