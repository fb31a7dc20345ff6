// Where the relay client sends a recipient domain's mail (pure).
//
// RFC 5321 §5.1: the MX records of the domain, lowest preference first,
// each exchange tried in turn; no MX records at all means the domain
// itself is the host (implicit MX, its A record); a null MX (RFC 7505)
// means the domain takes no mail. An address literal "[a.b.c.d]" names the
// host directly (§4.1.3). --relayhost HOST[:PORT] overrides all of it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apps/dns/message.hpp"

namespace bm {

constexpr std::uint16_t smtp_port = 25;  // RFC 5321 §4.5.4 (IANA: smtp)

struct Relayhost {
    std::string host;                // a name, or a dotted quad
    std::optional<std::uint32_t> ip; // set when host is a dotted quad
    std::uint16_t port = smtp_port;
};

// "HOST", "HOST:PORT", "[HOST]" or "[HOST]:PORT" (Postfix's brackets mean
// "no MX lookup", which is what we always do for a relayhost).
std::optional<Relayhost> parse_relayhost(std::string_view text);

// "[a.b.c.d]" -> the address (host byte order).
std::optional<std::uint32_t> address_literal(std::string_view domain);

// The exchanges in the order to try them: by preference, ties kept in
// answer order. Empty when the answer is a null MX.
std::vector<std::string> exchanges_in_order(std::vector<apps::dns::MxRecord> records);

// RFC 7505 §3: exactly one MX, preference 0, exchange ".".
bool is_null_mx(const std::vector<apps::dns::MxRecord>& records);

}  // namespace bm
