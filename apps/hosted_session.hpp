// Which protocol machine a connection runs, the same for both builds: the
// kernel build's Connection and the DPDK engine's TCB each embed a
// HostedSession (the machine lives in place, no allocation for a server
// session), and each server holds one ServiceHost (what its listeners
// host: the machines' settings, the lines for a client that gets no
// session, the relay check). The driver carries bytes and store requests;
// what runs on them is decided here.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "apps/client_limits.hpp"
#include "apps/block_pool.hpp"
#include "apps/config.hpp"
#include "apps/echo_server.hpp"
#include "apps/login_penalty.hpp"
#include "apps/pop3_server.hpp"
#include "apps/session.hpp"
#include "apps/smtp_client.hpp"
#include "apps/smtp_server.hpp"

namespace bm::apps {

// The listening services (SPEC --smtp-port, --pop3-port, --echo-port).
enum class Service : std::uint8_t { smtp, pop3, echo };
inline constexpr std::size_t service_count = 3;
const char* service_name(Service service);  // "smtp", "pop3", "echo": the log's service column

// One connection's machine. A server session is built in place
// (ServiceHost::open); a client session either in place (the relay
// client) or by whoever opened the connection (`host`).
class HostedSession {
public:
    bool open() const { return !std::holds_alternative<std::monostate>(machine_); }
    Session& session();

    template <class Machine, class... Args>
    Machine& emplace(Args&&... args) {
        if constexpr (pooled<Machine>)
            return machine_.template emplace<PooledMachine<Machine>>(std::forward<Args>(args)...).get();
        else
            return machine_.template emplace<Machine>(std::forward<Args>(args)...);
    }
    void host(std::unique_ptr<Session> session) { machine_.emplace<std::unique_ptr<Session>>(std::move(session)); }
    template <class Machine>
    Machine* get() {
        if constexpr (pooled<Machine>) {
            auto* held = std::get_if<PooledMachine<Machine>>(&machine_);
            return held ? &held->get() : nullptr;
        } else {
            return std::get_if<Machine>(&machine_);
        }
    }

    // Offers input to the machine while the connection's unsent output is
    // under its bound (Transport::send_room): a client that sends commands
    // and never reads their replies is read no further once they pass it,
    // so the driver holds the rest and TCP flow control pushes back on it
    // (the kernel build stops polling for input; the DPDK engine's window
    // closes, RFC 9293 §3.8.6). A command line is offered in slices of
    // offer_slice octets so one slice's replies overshoot the bound by a
    // few tens of KiB at most (a lone LF earns a 500 line, ~30 octets); a
    // DATA body, which earns no reply, is offered whole.
    struct Offered {
        std::size_t taken = 0;
        bool line_ended = false;  // an LF was taken: a line (command or body) is complete
    };
    Offered offer(std::string_view bytes, const Transport& transport);
    static constexpr std::size_t offer_slice = 1024;

    // The session is over: its machine is destroyed, and a store reply to
    // anything it asked for (even from its on_peer_closed) is refused.
    void end();

    // Store requests carry (slot, generation): a reply is taken only by the
    // session that asked, not by a later one in the same slot.
    std::uint64_t token(std::uint32_t slot) const { return (std::uint64_t(slot) << 32) | generation_; }
    static std::uint32_t slot_of(std::uint64_t token) { return std::uint32_t(token >> 32); }
    bool answers(std::uint64_t token) const { return open() && generation_ == std::uint32_t(token); }

private:
    // The SMTP server sits in place (an idle SMTP connection: 64 bytes);
    // the POP3 server and the relay client, several hundred bytes each, and
    // the echo server, in pooled blocks (apps/block_pool.hpp), so every TCB
    // does not carry the biggest machine.
    template <class Machine>
    static constexpr bool pooled = std::is_same_v<Machine, Pop3Server> || std::is_same_v<Machine, SmtpClient> ||
                                   std::is_same_v<Machine, EchoServer>;
    std::variant<std::monostate, SmtpServer, PooledMachine<Pop3Server>, PooledMachine<EchoServer>,
                 PooledMachine<SmtpClient>, std::unique_ptr<Session>>
        machine_;
    std::uint32_t generation_ = 0;
};

// What a server's listeners host. Built once at start; sessions keep
// references to its settings, so it outlives them.
class ServiceHost {
public:
    explicit ServiceHost(HostConfig config);
    ServiceHost(const ServiceHost&) = delete;  // the POP3 config points at its login penalty
    ServiceHost& operator=(const ServiceHost&) = delete;

    // Builds `service`'s machine in `hosted` for the client at `remote_ip`
    // (host byte order) described by `peer`, whose may_relay is decided
    // here. Not started: the driver logs the connection, then calls start().
    Session& open(HostedSession& hosted, Service service, Peer& peer, std::uint32_t remote_ip, Transport& transport,
                  MailPort& store, Observer& observer) const;

    // The line, then the close, for a client that gets no session: over
    // SPEC --max-conn, or connected while the server stops.
    std::string_view busy_line(Service service) const;
    std::string_view shutdown_line(Service service) const;

    const HostConfig& config() const { return config_; }

    // SPEC --max-conn-per-ip / --max-conn-rate-per-ip, asked by both builds
    // when a client connects (before open); an admitted one is released
    // when its connection ends. `now`: a monotonic count in milliseconds.
    // Clients allowed to relay are not counted (Postfix's
    // smtpd_client_event_limit_exceptions = $mynetworks).
    ClientLimits::Verdict admit(Service service, std::uint32_t remote_ip, std::chrono::milliseconds now) const;
    void release(Service service, std::uint32_t remote_ip, std::chrono::milliseconds now) const;

private:
    bool exempt(std::uint32_t remote_ip) const;

    HostConfig config_;
    // Who is connected and who failed to log in: the host's bookkeeping,
    // not its settings (hence mutable behind the const interface the
    // drivers hold). Polling thread only.
    mutable std::array<ClientLimits, service_count> limits_;
    LoginPenalty login_penalty_;
    // Built once, so refusing a connection does not allocate.
    std::string smtp_busy_line_, smtp_shutdown_line_;
};

}  // namespace bm::apps
