#include "apps/echo_server.hpp"

#include <cctype>
#include <string>

namespace bm::apps {

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::toupper(static_cast<unsigned char>(a[i])) !=
            std::toupper(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

}  // namespace

struct EchoServer::Command {
    std::string_view verb;
    // Gets what follows the keyword, including the space that separates it.
    void (EchoServer::*proceed)(std::string_view rest);
};

// The peer is not needed: the echo service treats every client alike. The
// parameter keeps the constructor in line with the other sessions.
EchoServer::EchoServer(const Peer&, Transport& transport, Observer& observer)
    : transport_(transport), observer_(observer) {}

void EchoServer::start() { reply("+OK Server ready (baremail)"); }

std::size_t EchoServer::on_bytes(std::string_view bytes) {
    if (ended_) return bytes.size();  // nobody will read it
    std::size_t taken = 0;
    for (;;) {
        run_buffered_commands();
        if (ended_ || taken == bytes.size()) break;
        std::size_t fed = reader_.feed(bytes.substr(taken));
        if (fed == 0) break;
        taken += fed;
    }
    return taken;
}

// Never submits a request, so there is never a reply to act on.
void EchoServer::on_store_reply(StoreReply) {}

void EchoServer::run_buffered_commands() {
    while (!ended_) {
        std::optional<LineReader::Line> line = reader_.next();
        if (!line) return;
        if (line->kind == LineReader::Kind::too_long)
            reply("-ERR Line too long");
        else
            run_line(line->text);
    }
}

void EchoServer::run_line(std::string_view line) {
    static constexpr Command table[] = {
        {"ECHO", &EchoServer::do_echo},
        {"QUIT", &EchoServer::do_quit},
    };
    observer_.on_command(line);
    // The keyword ends at the first space or at the end of the line, so
    // "ECHOX" is not ECHO.
    std::string_view verb = line.substr(0, line.find(' '));
    for (const Command& command : table)
        if (equals_ignoring_case(verb, command.verb))
            return (this->*command.proceed)(line.substr(verb.size()));
    reply("-ERR Unknown command");
}

// The keyword is replaced by "+OK" and everything after it comes back as
// sent: "ECHO a  b" -> "+OK a  b", "ECHO " -> "+OK ", bare "ECHO" -> "+OK".
void EchoServer::do_echo(std::string_view rest) { reply("+OK" + std::string(rest)); }

// Anything after QUIT is ignored: the client wants to go either way.
void EchoServer::do_quit(std::string_view) { end_session("+OK Goodbye!"); }

void EchoServer::on_idle_timeout() {
    if (!ended_) end_session("-ERR Timeout");
}

void EchoServer::on_shutdown() {
    if (!ended_) end_session("-ERR Server shutting down");
}

void EchoServer::on_peer_closed() { ended_ = true; }

void EchoServer::reply(std::string_view line) {
    observer_.on_reply(line);
    transport_.send(std::string(line) + "\r\n");
}

void EchoServer::end_session(std::string_view last_line) {
    reply(last_line);
    ended_ = true;
    transport_.close();
}

}  // namespace bm::apps
