#include "store/message_text.hpp"

namespace bm::store {

std::string to_crlf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 32 + 2);
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\n' && (i == 0 || text[i - 1] != '\r')) out.push_back('\r');
        out.push_back(c);
    }
    if (!out.empty() && out.back() != '\n') out.append(out.back() == '\r' ? "\n" : "\r\n");
    return out;
}

std::string crlf_to_lf(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
        out.push_back(text[i]);
    }
    return out;
}

std::string top_of_message(std::string_view text, std::int32_t lines) {
    std::size_t body = 0;
    if (text.starts_with("\r\n")) {
        body = 2;
    } else {
        auto blank = text.find("\r\n\r\n");
        if (blank == std::string_view::npos) return std::string(text);
        body = blank + 4;
    }
    std::size_t end = body;
    for (std::int32_t n = 0; n < lines && end < text.size(); ++n) {
        auto eol = text.find('\n', end);
        end = eol == std::string_view::npos ? text.size() : eol + 1;
    }
    return std::string(text.substr(0, end));
}

}  // namespace bm::store
