// What the header fill needs to know of a message's header section, learnt
// from the octets as they arrive, cut anywhere, without keeping them: a
// big message is spooled to the store long before its end, yet its added
// fields (apps/header_fill.hpp) must be exactly those of the whole text.
//
// Read first: RFC 5322 §2.1 (the header section ends at the first empty
// line), §2.2 (field name, colon; §2.2.3 folding), §4.5.3 (obsolete white
// space before the colon). The rules are those of has_header() and
// has_header_section(): a line that is neither a field nor a folded
// continuation also ends the section. It also counts the Received: fields
// for loop detection (RFC 5321 §6.3), again without keeping the text.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bm::apps {

class HeaderScan {
public:
    // The next octets of the message.
    void feed(std::string_view octets);

    // Once true, nothing fed later changes the answers below.
    bool done() const { return state_ == State::done; }
    bool has_date() const { return date_; }
    bool has_message_id() const { return message_id_; }
    // The first line is a header field.
    bool has_header_section() const { return section_; }
    // The message starts with CRLF (an empty header section).
    bool starts_with_blank_line() const { return lead_ == 2; }
    // RFC 5321 §6.3: each relay adds one; too many mean a mail loop.
    std::uint32_t received_fields() const { return received_; }

private:
    // Where the scan stands inside the current line.
    enum class State { line_start, name, before_colon, skip_line, done };

    void step(char c);
    void step_line_start(char c);
    void step_name(char c);
    std::size_t take_name(std::string_view octets, std::size_t at);
    void end_of_field_name();
    void watch_lead(char c);

    State state_ = State::line_start;
    bool first_line_ = true;
    bool in_field_ = false;  // a field began, so a WSP line is its folding
    // The field name so far; only "Date" and "Message-ID" matter, so a
    // longer name is just counted.
    std::array<char, 10> name_{};
    std::size_t name_length_ = 0;
    bool date_ = false;
    bool message_id_ = false;
    bool section_ = false;
    std::uint32_t received_ = 0;
    int lead_ = 0;  // how much of a leading CRLF was seen; -1: none
};

}  // namespace bm::apps
