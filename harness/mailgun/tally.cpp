#include "harness/mailgun/tally.hpp"

namespace bm::mailgun {

const char* error_kind_name(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::connect_refused: return "connect_refused";
        case ErrorKind::connect_failed: return "connect_failed";
        case ErrorKind::timeout: return "timeout";
        case ErrorKind::server_closed: return "server_closed";
        case ErrorKind::rejected: return "rejected";
        case ErrorKind::unexpected_reply: return "unexpected_reply";
        case ErrorKind::unfinished: return "unfinished";
    }
    return "?";
}

void Tally::rejected(std::string_view code) {
    error(ErrorKind::rejected);
    ++codes[std::string(code)];
}

void Tally::mismatch(Mismatch m) {
    ++mismatch_count;
    if (mismatches.size() < max_kept_mismatches) mismatches.push_back(std::move(m));
}

std::uint64_t Tally::error_total() const {
    std::uint64_t total = 0;
    for (std::uint64_t n : errors) total += n;
    return total;
}

}  // namespace bm::mailgun
