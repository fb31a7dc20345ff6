// The echo service of the seed milestone: a line protocol small enough to
// test a transport with. Greeting `+OK Server ready (baremail)`,
// `ECHO text` -> `+OK text`, `QUIT` -> `+OK Goodbye!`, anything else
// `-ERR Unknown command`. It never touches the store.
#pragma once

#include <cstddef>
#include <string_view>

#include "apps/line_reader.hpp"
#include "apps/session.hpp"

namespace bm::apps {

class EchoServer final : public Session {
public:
    EchoServer(const Peer& peer, Transport& transport, Observer& observer);

    void start() override;
    std::size_t on_bytes(std::string_view bytes) override;
    void on_store_reply(StoreReply reply) override;
    void on_idle_timeout() override;
    void on_shutdown() override;
    void on_peer_closed() override;
    bool waiting() const override { return false; }

private:
    struct Command;

    void run_buffered_commands();
    void run_line(std::string_view line);
    void do_echo(std::string_view rest);
    void do_quit(std::string_view rest);
    void reply(std::string_view line);
    void end_session(std::string_view last_line);

    Transport& transport_;
    Observer& observer_;
    LineReader reader_{1000};
    bool ended_ = false;
};

}  // namespace bm::apps
