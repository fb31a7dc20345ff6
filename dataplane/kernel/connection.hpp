// One connection of the kernel build: a slot of the preallocated pool,
// accepted from a listener or opened by the relay client. It is the
// Transport, MailPort and Observer of the protocol machine it holds (and
// the RelayReport of an SmtpClient), so the machine needs nothing else;
// which machine it holds is apps::HostedSession's business.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/hosted_session.hpp"
#include "apps/session.hpp"
#include "apps/smtp_client.hpp"

namespace bm::kernel {

using apps::Service;

class KernelServer;
using Clock = std::chrono::steady_clock;

class Connection final : public apps::Transport,
                         public apps::MailPort,
                         public apps::Observer,
                         public apps::RelayReport {
public:
    // Transport
    void send(std::string_view bytes) override { out.append(bytes); }
    std::size_t send_room() const override {
        return out.size() < send_bound ? send_bound - out.size() : 0;
    }
    void close() override { closing = true; }
    void wake_after(std::chrono::milliseconds delay) override { wake_at = Clock::now() + delay; }
    // MailPort
    void submit(apps::StoreRequest request) override;
    // Observer
    void on_command(std::string_view line) override;
    void on_reply(std::string_view line) override;
    void on_event(std::string_view event, std::string_view detail) override;
    // RelayReport: kept until the connection is torn down.
    void on_relay_result(const std::vector<apps::RecipientResult>& results) override {
        relay_results = results;
    }

    // What a streaming reply may queue beyond what the socket took (the
    // socket's own buffer holds more). A TCB on the DPDK build, which has
    // no socket buffer behind it, is bounded at 256 KiB instead.
    static constexpr std::size_t send_bound = 64 * 1024;

    apps::Session& session() { return hosted.session(); }
    bool open() const { return fd >= 0; }
    std::uint64_t token() const { return hosted.token(slot); }

    KernelServer* server = nullptr;
    std::uint32_t slot = 0;
    int fd = -1;
    Service service = Service::smtp;  // the listener's; not used when `relay`
    bool relay = false;               // an outbound connection of the relay client
    bool client_counted = false;      // admitted by ServiceHost::admit: released at teardown
    std::uint32_t remote_ip = 0;      // host byte order
    apps::Peer peer;
    std::string peer_text;  // "ip:port" for the log
    apps::HostedSession hosted;
    std::string in;   // offered to the machine and not yet taken
    std::string out;  // queued for the peer
    bool closing = false;       // the machine asked to close once `out` is sent
    bool reading = true;        // EPOLLIN armed
    bool writing = false;       // EPOLLOUT armed
    // The idle timer restarts on progress only: a line (command or DATA
    // body line) completed by the machine, or output the socket took — not
    // on any byte, or a client sending one byte at a time would hold the
    // session for ever (slowloris).
    Clock::time_point last_activity{};
    // Since when `out` has waited on a socket that takes none of it
    // (max: nothing waits); --send-timeout ends the connection from here.
    Clock::time_point send_stalled_since = Clock::time_point::max();
    Clock::time_point wake_at = Clock::time_point::max();
    std::uint32_t active_index = 0;  // position in KernelServer::active_
    // Relay connections only.
    bool connecting = false;         // non-blocking connect() not finished
    std::uint64_t relay_delivery = 0;
    std::vector<apps::RecipientResult> relay_results;
};

}  // namespace bm::kernel
