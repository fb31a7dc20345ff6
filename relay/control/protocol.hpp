// The queue tool's requests to the running server and the server's
// replies (sans-I/O: bytes in, values out). One request line per
// connection, one reply line back, LF-terminated, US-ASCII:
//
//   flush [ID]        retry now (every message when no ID)   Postfix: postqueue -f / -i ID
//   delete ID         remove it, never try it again          postsuper -d ID
//   hold ID           keep it, never try it until released   postsuper -h ID
//   release ID        end the hold                           postsuper -H ID
//
//   ok <text>         done (and durable, for delete/hold/release)
//   not-found <text>  no such message in the queue
//   error <text>      refused or failed; the text says why
//
// IDs are queue ids or queue file names: letters, digits, '.', '-', '_'.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace bm::control {

enum class Command { flush, remove, hold, release };

struct Request {
    Command command = Command::flush;
    std::string id;  // empty only for "flush" (all messages)
};

enum class Outcome { ok, not_found, error };

struct Reply {
    Outcome outcome = Outcome::ok;
    std::string text;
};

// Longest line either side sends, LF included; a longer one is refused.
constexpr std::size_t max_line = 512;

std::string encode(const Request& request);
std::string encode(const Reply& reply);
// A line without its LF; nullopt (and *error) when it is not a request.
std::optional<Request> decode_request(std::string_view line, std::string* error = nullptr);
std::optional<Reply> decode_reply(std::string_view line);

std::string_view command_name(Command command);
bool valid_id(std::string_view id);

// The control socket of the server that owns QUEUE.
std::string socket_path(const std::string& queue_dir);

}  // namespace bm::control
