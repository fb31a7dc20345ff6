#include "relay/control/protocol.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace bm::control {
namespace {

constexpr std::array<std::pair<Command, std::string_view>, 4> commands{{
    {Command::flush, "flush"},
    {Command::remove, "delete"},
    {Command::hold, "hold"},
    {Command::release, "release"},
}};

constexpr std::array<std::pair<Outcome, std::string_view>, 3> outcomes{{
    {Outcome::ok, "ok"},
    {Outcome::not_found, "not-found"},
    {Outcome::error, "error"},
}};

// Reply texts are single printable lines: a CR or LF would end the reply.
std::string one_line(std::string_view text) {
    std::string out(text.substr(0, max_line - 16));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return out;
}

}  // namespace

std::string_view command_name(Command command) {
    for (const auto& [c, name] : commands)
        if (c == command) return name;
    return "flush";
}

bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > 200 || id.front() == '.') return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_';
    });
}

std::string encode(const Request& request) {
    std::string line(command_name(request.command));
    if (!request.id.empty()) line += " " + request.id;
    return line + "\n";
}

std::string encode(const Reply& reply) {
    for (const auto& [o, name] : outcomes)
        if (o == reply.outcome) return std::string(name) + " " + one_line(reply.text) + "\n";
    return "error " + one_line(reply.text) + "\n";
}

std::optional<Request> decode_request(std::string_view line, std::string* error) {
    auto fail = [error](std::string why) -> std::optional<Request> {
        if (error) *error = std::move(why);
        return std::nullopt;
    };
    if (line.size() >= max_line) return fail("request too long");
    std::string_view word = line.substr(0, line.find(' '));
    std::string_view id = word.size() < line.size() ? line.substr(word.size() + 1) : "";
    auto known = std::find_if(commands.begin(), commands.end(),
                              [word](const auto& c) { return c.second == word; });
    if (known == commands.end()) return fail("unknown command: " + one_line(word));
    Request request{known->first, std::string(id)};
    if (id.empty() && request.command != Command::flush)
        return fail(std::string(word) + " needs a queue id");
    if (!id.empty() && !valid_id(id)) return fail("not a queue id: " + one_line(id));
    return request;
}

std::optional<Reply> decode_reply(std::string_view line) {
    std::string_view word = line.substr(0, line.find(' '));
    std::string_view text = word.size() < line.size() ? line.substr(word.size() + 1) : "";
    for (const auto& [o, name] : outcomes)
        if (name == word) return Reply{o, std::string(text)};
    return std::nullopt;
}

std::string socket_path(const std::string& queue_dir) { return queue_dir + "/.control"; }

}  // namespace bm::control
