// The contract between a protocol machine and whatever carries its bytes
// (the kernel epoll loop, or a TCB of the DPDK engine).
//
// A machine is sans-I/O: it gets bytes and store replies, and answers by
// calling its Transport (send/close/wake-up) and MailPort (disk work). It
// never blocks and never calls back into the driver re-entrantly for input.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "apps/mail_port.hpp"

namespace bm::apps {

class Transport {
public:
    // Queue bytes for the peer, in order. Replies are whole lines with CRLF.
    // Never refused; a machine that streams a long reply checks send_room
    // first and otherwise waits for Session::on_writable.
    virtual void send(std::string_view bytes) = 0;
    // How many more bytes the driver's send queue takes before it passes
    // its bound (0 when at or past it).
    virtual std::size_t send_room() const = 0;
    // Close once everything queued has been sent. No input is fed after it.
    virtual void close() = 0;
    // Call Session::on_wakeup once, after `delay` (POP3 login slow-down).
    virtual void wake_after(std::chrono::milliseconds delay) = 0;

protected:
    ~Transport() = default;
};

// -v debug lines and the log. The driver adds time, service, peer and [N].
class Observer {
public:
    virtual void on_command(std::string_view line) { (void)line; }  // "[N] C: <line>"
    virtual void on_reply(std::string_view line) { (void)line; }    // "[N] S: <line>"
    // A log event: e.g. ("accepted", "id=... from=<a> rcpts=2 size=123").
    virtual void on_event(std::string_view event, std::string_view detail) {
        (void)event;
        (void)detail;
    }

protected:
    ~Observer() = default;
};

// Who is on the other end, as the driver knows it. Addresses are kept as
// numbers (host byte order) and put into text only where text is needed
// (Received:, log lines: Ipv4Text): 24 bytes in every TCB, not two strings.
struct Peer {
    std::uint32_t ip = 0;
    std::uint16_t port = 0;
    std::uint32_t local_ip = 0;  // the address the client connected to ("[ip]" literals); 0: none
    bool may_relay = false;
    std::uint64_t connection = 0;  // the [N] of -v lines, unique per process run
};

// Machines keep references to the config, Transport, MailPort and Observer
// they are built with: the driver keeps those alive for the session's life.
class Session {
public:
    virtual ~Session() = default;

    // Send the greeting.
    virtual void start() = 0;
    // Consume what can be consumed now; returns how many bytes were taken.
    // Takes less than offered while waiting for a store reply or a wake-up,
    // or when its bounded buffer is full; the driver keeps the rest and
    // offers it again after on_store_reply / on_wakeup.
    virtual std::size_t on_bytes(std::string_view bytes) = 0;
    virtual void on_store_reply(StoreReply reply) = 0;
    virtual void on_wakeup() {}
    // The send queue, after being filled past half its bound, has drained
    // to half or less: a streaming reply (POP3 RETR) continues from here.
    virtual void on_writable() {}
    // Idle too long: send 421 / -ERR and close.
    virtual void on_idle_timeout() = 0;
    // Server stopping: send the shutdown line and close; a pending store
    // request is answered first (its reply is sent before the shutdown line).
    virtual void on_shutdown() = 0;
    // The connection is gone (peer closed or reset): release what is held.
    virtual void on_peer_closed() = 0;
    virtual bool waiting() const = 0;
    // Whether the input taken so far is answered by a reply of its own
    // (a command line, at once or after a store request). False while the
    // machine reads input that earns none until an end marker — an SMTP
    // DATA body before its final dot. A driver that delays ACKs to have
    // them piggybacked on the reply (RFC 1122 §4.2.3.2) ACKs such input at once
    // instead: the peer may be holding its next piece for that ACK
    // (Nagle, RFC 9293 §3.7.4).
    virtual bool reply_due() const { return true; }
};

}  // namespace bm::apps
