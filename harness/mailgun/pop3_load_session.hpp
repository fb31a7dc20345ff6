// The POP3 load machine (RFC 1939): greeting, USER, PASS, STAT, then RETR
// of messages 1..K (wrapping around the maildrop), QUIT. Nothing is
// deleted, so runs repeat on the same maildrops.
//
// Each concurrent connection slot logs in as its own user (--user pattern
// at the slot's index): the server locks a maildrop for the session, so
// slots sharing a user would refuse each other ([IN-USE]).
// Latency: RETR sent -> the terminating "." line received.
#pragma once

#include <cstdint>
#include <string>

#include "harness/mailgun/load_session.hpp"
#include "harness/mailgun/reply_reader.hpp"

namespace bm::mailgun {

class Pop3LoadSession final : public LoadSession {
public:
    Pop3LoadSession(LoadPlan& plan, std::uint32_t reserved, std::uint64_t user_index,
                    apps::Transport& transport, const Clock& clock);

    void start() override {}  // RFC 1939 §4: the server greets first
    std::size_t on_bytes(std::string_view bytes) override;

private:
    enum class Phase { greeting, user, pass, stat, retr, quit };

    void on_response(const Pop3Response& response);
    void on_stat(const Pop3Response& response);
    void next_retr_or_quit();
    void send(const std::string& line);
    void refused_by(const Pop3Response& response);

    Pop3ResponseReader reader_;
    Phase phase_ = Phase::greeting;
    std::uint64_t user_index_;
    std::uint64_t maildrop_size_ = 0;  // messages, from STAT
    std::uint64_t retrieved_ = 0;
    std::uint64_t retr_sent_ns_ = 0;
};

// "-ERR" with its RFC 2449 §8 response code when there is one: "-ERR [IN-USE]".
std::string pop3_error_code(const std::string& status_line);

}  // namespace bm::mailgun
