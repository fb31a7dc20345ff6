#include "harness/mailgun/replay_script.hpp"

#include <optional>

#include "harness/mailgun/capture_file.hpp"
#include "harness/mailgun/reply_reader.hpp"

namespace bm::mailgun {

namespace {

struct FramedReply {
    std::uint64_t end = 0;  // offset after its last octet in the server stream
    std::string reply_class;
};

std::optional<Protocol> protocol_of(const std::string& server_bytes) {
    if (server_bytes.size() >= 3 && server_bytes[0] >= '1' && server_bytes[0] <= '5') return Protocol::smtp;
    if (server_bytes.starts_with("+OK") || server_bytes.starts_with("-ERR")) return Protocol::pop3;
    return std::nullopt;
}

// Every complete reply of the server's stream (a reply cut off by the end
// of the capture is left out).
template <typename Reader>
std::vector<FramedReply> frame(Reader& reader, const std::string& stream) {
    std::vector<FramedReply> replies;
    std::size_t at = 0;
    while (at < stream.size()) {
        at += reader.feed(std::string_view(stream).substr(at));
        if (reader.ready()) replies.push_back({at, reply_class(reader.take())});
    }
    return replies;
}

std::vector<FramedReply> frame_replies(Protocol protocol, const TcpConversation& c) {
    if (protocol == Protocol::smtp) {
        SmtpReplyReader reader;
        return frame(reader, c.server_bytes);
    }
    // One response per command line the client sent, after the greeting.
    Pop3ResponseReader reader;
    reader.expect_greeting();
    std::size_t from = 0;
    for (std::size_t lf; (lf = c.client_bytes.find('\n', from)) != std::string::npos; from = lf + 1) {
        std::string_view line = std::string_view(c.client_bytes).substr(from, lf - from);
        if (line.ends_with('\r')) line.remove_suffix(1);
        reader.expect_reply_to(line);
    }
    return frame(reader, c.server_bytes);
}

ReplaySessionScript script_for(const TcpConversation& c, Protocol protocol) {
    ReplaySessionScript s;
    s.server_ip = c.server_ip;
    s.server_port = c.server_port;
    s.protocol = protocol;
    s.cut = c.client_gap || c.server_gap;
    std::vector<FramedReply> replies = frame_replies(protocol, c);
    std::size_t next_reply = 0;
    // The replies whose last octet is within the first `acked` octets.
    auto replies_until = [&](std::uint64_t acked) {
        std::vector<std::string> classes;
        while (next_reply < replies.size() && replies[next_reply].end <= acked)
            classes.push_back(replies[next_reply++].reply_class);
        return classes;
    };
    const std::vector<ClientRun>& runs = c.client_runs;
    s.steps.push_back({"", replies_until(runs.empty() ? UINT64_MAX : runs.front().server_acked)});
    for (std::size_t i = 0; i < runs.size(); ++i) {
        std::uint64_t end = i + 1 < runs.size() ? runs[i + 1].offset : c.client_bytes.size();
        std::string bytes = c.client_bytes.substr(runs[i].offset, end - runs[i].offset);
        // The last turn gets every reply left, whenever it came.
        std::vector<std::string> expect = replies_until(i + 1 < runs.size() ? runs[i + 1].server_acked : UINT64_MAX);
        // A step that waited for no whole reply (the ACK stopped mid-reply)
        // goes out with the one before it.
        if (s.steps.size() > 1 && s.steps.back().expect.empty()) {
            s.steps.back().send += bytes;
            s.steps.back().expect = std::move(expect);
        } else {
            s.steps.push_back({std::move(bytes), std::move(expect)});
        }
    }
    return s;
}

}  // namespace

std::size_t ReplaySessionScript::turns() const {
    std::size_t n = 0;
    for (const ReplayStep& step : steps) n += !step.send.empty() && !step.expect.empty();
    return n;
}

ReplayScript make_replay_script(const std::vector<TcpConversation>& conversations) {
    ReplayScript script;
    script.connections = conversations.size();
    std::uint64_t first_start = 0;
    for (const TcpConversation& c : conversations) {
        std::optional<Protocol> protocol = protocol_of(c.server_bytes);
        if (!protocol) {
            ++script.not_mail;
            continue;
        }
        ReplaySessionScript s = script_for(c, *protocol);
        if (script.sessions.empty()) first_start = c.start_ns;
        s.index = script.sessions.size();
        s.offset_ns = c.start_ns - first_start;
        script.sessions.push_back(std::move(s));
    }
    return script;
}

ReplayScript load_replay_script(const std::string& path) {
    CaptureReader reader = CaptureReader::open(path);
    StreamAssembler assembler;
    CapturedFrame frame;
    while (reader.next(frame))
        if (auto segment = decode_segment(frame)) assembler.add(*segment);
    return make_replay_script(assembler.finish());
}

}  // namespace bm::mailgun
