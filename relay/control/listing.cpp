#include "relay/control/listing.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace bm::control {

namespace q = store::queue;

namespace {

std::string utc_time(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string next_try_text(const q::Entry& e, std::int64_t now) {
    if (e.held) return "on hold";
    if (e.next_try <= now) return "now";
    return "in " + span_text(e.next_try - now) + " (" + utc_time(e.next_try) + ")";
}

std::size_t pending(const q::Entry& e) {
    return static_cast<std::size_t>(std::count_if(e.recipients.begin(), e.recipients.end(), [](const q::Recipient& r) {
        return r.state == q::RecipientState::pending;
    }));
}

std::string recipients_json(const q::Entry& e) {
    std::string out = "[";
    for (std::size_t i = 0; i < e.recipients.size(); ++i) {
        const q::Recipient& r = e.recipients[i];
        out += (i ? "," : "") + std::string("{\"address\":") + json_string(r.address) +
               ",\"state\":" + json_string(q::state_name(r.state)) +
               ",\"last_error\":" + json_string(r.diagnostic) + "}";
    }
    return out + "]";
}

std::string envelope_json(const q::Entry& e, std::int64_t now) {
    return "{\"id\":" + json_string(e.id) + ",\"file\":" + json_string(e.name) +
           ",\"size\":" + std::to_string(e.content_size) + ",\"created\":" + std::to_string(e.created) +
           ",\"age\":" + std::to_string(std::max<std::int64_t>(now - e.created, 0)) +
           ",\"sender\":" + json_string(e.sender) + ",\"attempts\":" + std::to_string(e.attempts) +
           ",\"next_try\":" + std::to_string(e.next_try) + ",\"held\":" + (e.held ? "true" : "false") +
           ",\"warned\":" + (e.warned ? "true" : "false") + ",\"recipients\":" + recipients_json(e) + "}";
}

void recipient_lines(std::string& out, const q::Entry& e) {
    for (const q::Recipient& r : e.recipients) {
        char state[16];
        std::snprintf(state, sizeof state, "%-8s", std::string(q::state_name(r.state)).c_str());
        out += "    " + std::string(state) + "<" + r.address + ">";
        if (!r.diagnostic.empty()) out += "  (" + r.diagnostic + ")";
        out += "\n";
    }
}

}  // namespace

std::vector<q::Entry> read_queue(const std::string& queue_dir, std::size_t* skipped) {
    std::vector<q::Entry> entries;
    std::size_t bad = 0;
    for (const std::string& name : q::list(queue_dir)) {
        q::Entry e;
        store::Status s = q::read_envelope(queue_dir, name, e);
        if (s == store::Status::ok) entries.push_back(std::move(e));
        else if (s != store::Status::not_found) ++bad;  // not_found: finished meanwhile
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const q::Entry& a, const q::Entry& b) { return a.created < b.created; });
    if (skipped) *skipped = bad;
    return entries;
}

std::optional<q::Entry> find_message(const std::string& queue_dir, const std::string& id) {
    q::Entry e;
    if (q::read_envelope(queue_dir, id, e) == store::Status::ok) return e;  // a file name
    for (q::Entry& entry : read_queue(queue_dir))
        if (entry.id == id) return std::move(entry);
    return std::nullopt;
}

std::string span_text(std::int64_t s) {
    if (s < 0) s = 0;
    std::int64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    if (d) return std::to_string(d) + "d" + std::to_string(h) + "h";
    if (h) return std::to_string(h) + "h" + std::to_string(m) + "m";
    if (m) return std::to_string(m) + "m" + std::to_string(sec) + "s";
    return std::to_string(sec) + "s";
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string list_text(const std::vector<q::Entry>& entries, std::int64_t now) {
    if (entries.empty()) return "Mail queue is empty\n";
    std::string out;
    std::uint64_t octets = 0;
    std::size_t waiting = 0;
    for (const q::Entry& e : entries) {
        octets += e.content_size;
        waiting += pending(e);
        out += e.id + (e.held ? "!" : "") + "  " + std::to_string(e.content_size) + " octets  age " +
               span_text(now - e.created) + "  from <" + e.sender + ">\n";
        out += "    attempts " + std::to_string(e.attempts) + ", next try " + next_try_text(e, now) +
               (e.warned ? ", delay warning sent" : "") + "\n";
        recipient_lines(out, e);
        out += "\n";
    }
    out += "-- " + std::to_string(entries.size()) + (entries.size() == 1 ? " message, " : " messages, ") +
           std::to_string(octets) + " octets, " + std::to_string(waiting) + " recipients pending\n";
    return out;
}

std::string list_json(const std::vector<q::Entry>& entries, std::int64_t now) {
    std::string out = "{\"messages\":[";
    for (std::size_t i = 0; i < entries.size(); ++i) out += (i ? "," : "") + envelope_json(entries[i], now);
    return out + "]}\n";
}

std::string show_text(const q::Entry& e, const std::string& headers, std::int64_t now) {
    std::string out;
    out += "id: " + e.id + "\n";
    out += "file: " + e.name + "\n";
    out += "size: " + std::to_string(e.content_size) + " octets\n";
    out += "created: " + utc_time(e.created) + " (age " + span_text(now - e.created) + ")\n";
    out += "sender: <" + e.sender + ">\n";
    out += "attempts: " + std::to_string(e.attempts) + "\n";
    out += "next try: " + next_try_text(e, now) + "\n";
    if (e.held) out += "held: yes\n";
    if (e.warned) out += "delay warning: sent\n";
    out += "recipients:\n";
    recipient_lines(out, e);
    out += "\n";
    for (char c : headers)
        if (c != '\r') out += c;  // the header section, as LF lines for the terminal
    return out;
}

std::string show_json(const q::Entry& e, const std::string& headers, std::int64_t now) {
    return "{\"envelope\":" + envelope_json(e, now) + ",\"headers\":" + json_string(headers) + "}\n";
}

}  // namespace bm::control
