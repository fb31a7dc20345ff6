#include "harness/mailgun/load_plan.hpp"

#include <algorithm>

namespace bm::mailgun {

LoadPlan::LoadPlan(const Workload& workload, Tally& tally)
    : workload_(workload), tally_(tally), left_(workload.messages) {
    if (workload.protocol == Protocol::smtp) text_ = make_message_text(workload.size, workload.sender);
}

void LoadPlan::begin(std::uint64_t start_ns) {
    if (workload_.duration_s > 0) end_ns_ = start_ns + static_cast<std::uint64_t>(workload_.duration_s * 1e9);
}

std::uint32_t LoadPlan::reserve(std::uint64_t now_ns) {
    if (workload_.duration_s > 0) return now_ns < end_ns_ ? workload_.per_connection : 0;
    auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(left_, workload_.per_connection));
    left_ -= n;
    return n;
}

bool LoadPlan::may_begin_message(std::uint64_t now_ns) const {
    return workload_.duration_s == 0 || now_ns < end_ns_;
}

void LoadPlan::unsent(std::uint32_t n) {
    if (workload_.duration_s == 0) tally_.messages_failed(n);
}

void LoadPlan::abandon() {
    tally_.messages_failed(left_);
    left_ = 0;
    end_ns_ = 0;
}

bool LoadPlan::exhausted(std::uint64_t now_ns) const {
    return workload_.duration_s > 0 ? now_ns >= end_ns_ : left_ == 0;
}

std::string make_message_text(std::uint64_t size, const std::string& sender) {
    std::string text = "From: <" + sender + ">\r\nTo: undisclosed-recipients:;\r\n"
                       "Subject: mailgun load\r\n\r\n";
    static constexpr std::string_view letters = "abcdefghijklmnopqrstuvwxyz";
    // Lines of up to 76 letters + CRLF, the last ones shorter, so the text
    // is `size` octets and ends with CRLF (one more when only one is left).
    std::uint64_t line = 0;
    while (text.size() < size) {
        std::uint64_t room = size - text.size();
        std::uint64_t length = room > 2 ? std::min<std::uint64_t>(76, room - 2) : 0;
        for (std::uint64_t i = 0; i < length; ++i) text += letters[(line + i) % letters.size()];
        text += "\r\n";
        ++line;
    }
    return text;
}

}  // namespace bm::mailgun
