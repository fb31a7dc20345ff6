// One client connection of the kernel build: a slot of the preallocated
// pool. It is the Transport, MailPort and Observer of the protocol machine
// it holds, so the machine needs nothing else from the driver.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

#include "apps/echo_server.hpp"
#include "apps/pop3_server.hpp"
#include "apps/session.hpp"
#include "apps/smtp_server.hpp"

namespace bm::kernel {

enum class Service : std::uint8_t { smtp, pop3, echo };
const char* service_name(Service service);

class KernelServer;
using Clock = std::chrono::steady_clock;

class Connection final : public apps::Transport, public apps::MailPort, public apps::Observer {
public:
    // Transport
    void send(std::string_view bytes) override { out.append(bytes); }
    void close() override { closing = true; }
    void wake_after(std::chrono::milliseconds delay) override { wake_at = Clock::now() + delay; }
    // MailPort
    void submit(apps::StoreRequest request) override;
    // Observer
    void on_command(std::string_view line) override;
    void on_reply(std::string_view line) override;
    void on_event(std::string_view event, std::string_view detail) override;

    apps::Session& session();
    bool open() const { return fd >= 0; }
    std::uint64_t token() const { return (std::uint64_t(slot) << 32) | generation; }

    KernelServer* server = nullptr;
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;  // bumped on every reuse: late store replies are dropped
    int fd = -1;
    Service service = Service::smtp;
    apps::Peer peer;
    std::string peer_text;  // "ip:port" for the log
    std::variant<std::monostate, apps::SmtpServer, apps::Pop3Server, apps::EchoServer> machine;
    std::string in;   // offered to the machine and not yet taken
    std::string out;  // queued for the peer
    bool closing = false;       // the machine asked to close once `out` is sent
    bool reading = true;        // EPOLLIN armed
    bool writing = false;       // EPOLLOUT armed
    Clock::time_point last_activity{};
    Clock::time_point wake_at = Clock::time_point::max();
    std::uint32_t active_index = 0;  // position in KernelServer::active_
};

}  // namespace bm::kernel
