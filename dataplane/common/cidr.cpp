#include "dataplane/common/cidr.hpp"

namespace bm {

std::optional<Cidr> Cidr::parse(std::string_view text) {
    Cidr cidr;
    std::size_t slash = text.find('/');
    if (slash != std::string_view::npos) {
        std::string_view len = text.substr(slash + 1);
        if (len.empty() || len.size() > 2) return std::nullopt;
        unsigned n = 0;
        for (char c : len) {
            if (c < '0' || c > '9') return std::nullopt;
            n = n * 10 + unsigned(c - '0');
        }
        if (n > 32) return std::nullopt;
        cidr.prefix = std::uint8_t(n);
        text = text.substr(0, slash);
    }
    auto address = parse_ipv4(text);
    if (!address) return std::nullopt;
    std::uint32_t mask = cidr.prefix == 0 ? 0 : ~std::uint32_t(0) << (32 - cidr.prefix);
    cidr.network = *address & mask;
    return cidr;
}

bool Cidr::contains(std::uint32_t address) const {
    std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t(0) << (32 - prefix);
    return (address & mask) == network;
}

}  // namespace bm
