#include "apps/relay/route.hpp"

#include <algorithm>
#include <charconv>

#include "apps/ipv4_text.hpp"

namespace bm {

std::optional<Relayhost> parse_relayhost(std::string_view text) {
    Relayhost out;
    std::string_view host = text;
    std::string_view port;
    if (text.starts_with('[')) {
        std::size_t close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (!rest.starts_with(':')) return std::nullopt;
            port = rest.substr(1);
        }
    } else if (std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (port.empty()) return std::nullopt;
    }
    if (host.empty() || host.size() > 253 || host.find_first_of(" :/[]") != std::string_view::npos)
        return std::nullopt;
    if (!port.empty()) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
            return std::nullopt;
        out.port = static_cast<std::uint16_t>(value);
    }
    out.host = std::string(host);
    out.ip = parse_ipv4(host);
    return out;
}

std::optional<std::uint32_t> address_literal(std::string_view domain) {
    if (!domain.starts_with('[') || !domain.ends_with(']')) return std::nullopt;
    return parse_ipv4(domain.substr(1, domain.size() - 2));
}

bool is_null_mx(const std::vector<apps::dns::MxRecord>& records) {
    return records.size() == 1 && records[0].exchange.empty();
}

std::vector<std::string> exchanges_in_order(std::vector<apps::dns::MxRecord> records) {
    // RFC 5321 §5.1: lower preference first. (It asks to shuffle equal
    // preferences; we keep answer order, which resolvers already rotate.)
    std::stable_sort(records.begin(), records.end(),
                     [](const auto& a, const auto& b) { return a.preference < b.preference; });
    std::vector<std::string> out;
    for (auto& r : records) {
        if (r.exchange.empty()) continue;  // "." in a non-null-MX set: meaningless
        if (std::find(out.begin(), out.end(), r.exchange) == out.end()) out.push_back(std::move(r.exchange));
    }
    return out;
}

}  // namespace bm
