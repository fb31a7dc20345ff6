// What `baremail-queue list` and `show` print (Postfix: mailq, postcat -h),
// as text for people or JSON for programs, from queue files read directly:
// a queue file is only ever replaced whole by rename (store/queue.hpp), so
// a reader sees one whole version of each, with or without the server
// running, and never changes anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/queue.hpp"

namespace bm::control {

// Every queue file's envelope, oldest first; unreadable files are skipped
// (`skipped` counts them).
std::vector<store::queue::Entry> read_queue(const std::string& queue_dir, std::size_t* skipped = nullptr);
// The message with this queue id or file name.
std::optional<store::queue::Entry> find_message(const std::string& queue_dir, const std::string& id);

// `now`: unix seconds, for the age and the time to the next try.
std::string list_text(const std::vector<store::queue::Entry>& entries, std::int64_t now);
std::string list_json(const std::vector<store::queue::Entry>& entries, std::int64_t now);
// One message: its envelope and its header section.
std::string show_text(const store::queue::Entry& entry, const std::string& headers, std::int64_t now);
std::string show_json(const store::queue::Entry& entry, const std::string& headers, std::int64_t now);

// "3d4h", "12m5s", "0s": a span of seconds as the tool prints it.
std::string span_text(std::int64_t seconds);
// A JSON string literal; octets above 127 and controls escaped as \u00XX.
std::string json_string(std::string_view text);

}  // namespace bm::control
