// Conversions between the forms a message takes: CRLF lines as SMTP hands
// them over and POP3 sends them (RFC 5322 §2.1, RFC 1939 §3), and LF lines
// as an mbox holds them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bm::store {

// Every bare LF becomes CRLF; a non-empty text gets a final CRLF if it
// lacks one, since POP3 sends whole lines before the terminating ".".
std::string to_crlf(std::string_view text);

// Each CRLF becomes LF; a lone CR is kept.
std::string crlf_to_lf(std::string_view text);

// RFC 1939 TOP: the header, the blank line after it, and the first `lines`
// lines of the body. A message without a blank line is all header.
std::string top_of_message(std::string_view crlf_text, std::int32_t lines);

}  // namespace bm::store
