// A capture turned into what a replay does: per connection, the client's
// bytes in turns, each sent after the replies the client had received in
// the capture before sending it, with the class of each reply expected.
//
//   step 0: send nothing,        expect the greeting
//   step i: send the i-th turn,  expect the replies that came before the next
//   last:   send the last turn,  expect whatever replies followed it (221, +OK)
//
// A turn's replies are those whose last octet the client had acknowledged
// (tcp_streams' ClientRun) before its next turn. Replies are framed as the
// live replay frames them (reply_reader): SMTP replies by their codes, POP3
// responses by the commands the client sent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/mailgun/tcp_streams.hpp"
#include "harness/mailgun/workload.hpp"

namespace bm::mailgun {

struct ReplayStep {
    std::string send;                 // client octets, as captured
    std::vector<std::string> expect;  // reply classes, in order
};

struct ReplaySessionScript {
    std::uint64_t index = 0;      // in the capture, by start
    std::uint64_t offset_ns = 0;  // start after the first connection's
    std::uint32_t server_ip = 0;
    std::uint16_t server_port = 0;
    Protocol protocol = Protocol::smtp;
    std::vector<ReplayStep> steps;
    bool cut = false;  // the capture misses data of this connection

    std::size_t turns() const;  // steps that send and expect replies (the timed ones)
};

struct ReplayScript {
    std::vector<ReplaySessionScript> sessions;
    std::uint64_t connections = 0;      // TCP connections in the capture
    std::uint64_t not_mail = 0;         // skipped: the server spoke neither SMTP nor POP3
};

ReplayScript make_replay_script(const std::vector<TcpConversation>& conversations);
// Reads, decodes and assembles a capture file; throws CaptureError.
ReplayScript load_replay_script(const std::string& path);

}  // namespace bm::mailgun
