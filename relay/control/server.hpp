// The server's end of the queue tool's control socket (QUEUE/.control,
// AF_UNIX stream, mode 0600 in the 0700 queue dir; only root and the
// server's own user may talk to it, checked with SO_PEERCRED).
//
// It never blocks and owns no queue state: poll() runs on the thread that
// owns the relay agent (the agent calls it from tick()), accepts clients,
// reads each one's request line and hands it to the ControlHandler; the
// handler answers with reply(), at once or after the I/O worker has made
// the change durable. So a request is carried out on the agent's own
// thread, between its other steps, and never races it.
#pragma once

#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <string>

#include "relay/control/protocol.hpp"

namespace bm::control {

class ControlHandler {
public:
    // `client` is the handle for ControlServer::reply (exactly once).
    virtual void on_control(std::uint64_t client, const Request& request) = 0;

protected:
    ~ControlHandler() = default;
};

class ControlServer {
public:
    // Listens on socket_path(queue_dir). A socket left by a process that
    // is gone is replaced; one another live server answers on is not
    // (nullptr, *error says so), nor is any other file of that name.
    static std::unique_ptr<ControlServer> open(const std::string& queue_dir, ControlHandler& handler,
                                               std::string& error);
    ~ControlServer();  // closes every client and removes the socket file
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Accepts, reads, dispatches, writes what is pending, drops clients
    // idle for over 30 s (a reply that waits on the disk is not idle).
    void poll(std::time_t now);
    void reply(std::uint64_t client, const Reply& reply);
    std::size_t clients() const { return clients_.size(); }
    const std::string& path() const { return path_; }

private:
    struct Client {
        int fd = -1;
        std::string in, out;
        bool asked = false;    // its request is read (and went to the handler if valid)
        bool replied = false;  // `out` holds the whole reply
        std::time_t since = 0;
    };
    ControlServer(int fd, std::string path, ControlHandler& handler)
        : fd_(fd), path_(std::move(path)), handler_(handler) {}
    void accept_clients(std::time_t now);
    void read_request(std::uint64_t id, Client& c);
    bool write_reply(Client& c);  // true when all is sent (or the peer is gone)
    void close_client(std::uint64_t id);

    int fd_;
    std::string path_;
    ControlHandler& handler_;
    std::map<std::uint64_t, Client> clients_;
    std::uint64_t next_client_ = 1;
};

}  // namespace bm::control
