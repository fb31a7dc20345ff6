// DNS messages for the relay client's MX and A lookups (RFC 1035), sans-I/O:
// bytes in, values out. The driver owns the UDP socket, ids and retries.
//
// Read first: RFC 1035 §4.1 (message format: header, question, resource
// records), §4.1.4 (name compression), §3.3.9 (MX), §3.4.1 (A), RFC 2308
// §2 (NXDOMAIN vs NODATA), RFC 7505 (null MX), RFC 5321 §5.1 (what the
// relay client does with the answer).
//
// Parsing never trusts a length or a pointer: every read is bounds-checked,
// compression pointers may only point backwards and are followed at most a
// fixed number of times, and names are capped at 255 octets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bm::apps::dns {

enum class RecordType : std::uint16_t { a = 1, cname = 5, mx = 15 };

// A query for `name` (dotted, a trailing dot allowed) with recursion
// desired. nullopt when the name cannot be a domain name (RFC 1035 §2.3.4:
// labels of 1..63 octets, 255 octets in all).
std::optional<std::string> build_query(std::uint16_t id, std::string_view name, RecordType type);

enum class Status {
    ok,              // NOERROR with answers of the asked type
    no_records,      // NOERROR, none of the type (RFC 2308 "NODATA")
    nxdomain,        // RCODE 3: the domain does not exist
    server_failure,  // RCODE 2 (SERVFAIL), REFUSED, other errors: try again later
    truncated,       // TC set: UDP was not enough (no TCP fallback here)
    malformed,       // not a well-formed answer to our question
    mismatch,        // id or question differ: not ours, keep waiting
};

struct MxRecord {
    std::uint16_t preference = 0;
    std::string exchange;  // lower-case, no trailing dot; "" for the null MX "."
};

struct Response {
    Status status = Status::malformed;
    std::vector<MxRecord> mx;               // for MX queries, as received
    std::vector<std::uint32_t> addresses;   // for A queries, host byte order
    std::string reason;                     // for logs when status is not ok
};

// Checks that `packet` answers query `id` for (`name`, `type`) and extracts
// the records of that type from the answer section.
Response parse_response(std::string_view packet, std::uint16_t id, std::string_view name,
                        RecordType type);

std::string_view status_name(Status status);

}  // namespace bm::apps::dns
