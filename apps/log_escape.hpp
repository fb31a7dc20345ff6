// The one escaping function for every field written to a log line (the
// server's event log, the store's lines, the fuzzers' checks): names from
// DNS, replies of remote servers, client input and file names may hold any
// octet, and a line feed or carriage return in a field would let them
// forge a line of their own (e.g. one a fail2ban filter takes for an auth
// failure of someone else's address). Here in apps/ so store/ can use it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bm {

// Appends `field` to `out` with every octet that could break a line or
// fool a reader shown as "\xNN" (lower-case hex): the C0 controls
// (0x00-0x1f, CR and LF among them), DEL, the backslash itself (so the
// escaping cannot be imitated), octets that are not part of well-formed
// UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF) and the C1 controls U+0080-U+009F a terminal may act on.
// Well-formed UTF-8 text passes unchanged. Writes at most `room` octets
// to `out` (an escape or a character is never cut) and returns how many.
std::size_t escape_log_field(std::string_view field, char* out, std::size_t room);
std::string escape_log_field(std::string_view field);

}  // namespace bm
