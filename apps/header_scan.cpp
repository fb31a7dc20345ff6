#include "apps/header_scan.hpp"

#include "apps/ascii.hpp"

namespace bm::apps {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// RFC 5322 §3.6.8: ftext = %d33-57 / %d59-126
bool is_ftext(char c) { return c >= 33 && c <= 126 && c != ':'; }

bool names_equal(std::string_view lowered, std::string_view name) {
    if (lowered.size() != name.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (lowered[i] != to_lower(name[i])) return false;
    return true;
}

}  // namespace

// Stops at the end of the header section; inside a field's line only the
// line's end matters, found with one search (a field's name and colon
// come first, so the leading-CRLF watch is over by then).
void HeaderScan::feed(std::string_view octets) {
    for (std::size_t at = 0; at < octets.size(); ++at) {
        if (state_ == State::skip_line) {
            at = octets.find('\n', at);
            if (at == std::string_view::npos) return;
        } else if (state_ == State::name) {
            at = take_name(octets, at);
            if (at == octets.size()) return;
        }
        char c = octets[at];
        if (lead_ >= 0 && lead_ < 2) watch_lead(c);
        if (state_ == State::done) {
            if (lead_ < 0 || lead_ == 2) return;
            continue;
        }
        step(c);
    }
}

void HeaderScan::watch_lead(char c) {
    const char want = lead_ == 0 ? '\r' : '\n';
    lead_ = c == want ? lead_ + 1 : -1;
}

void HeaderScan::step(char c) {
    switch (state_) {
        case State::line_start:
            step_line_start(c);
            break;
        case State::name:
            step_name(c);
            break;
        case State::before_colon:
            if (c == ':') {
                end_of_field_name();
            } else if (!is_wsp(c)) {
                state_ = State::done;  // not a field line: the section is over
            }
            break;
        case State::skip_line:
            if (c == '\n') {
                state_ = State::line_start;
                first_line_ = false;
            }
            break;
        case State::done:
            break;
    }
}

// RFC 5322 §2.1: an empty line ends the header section. A line starting
// with CR is either that empty line or no field at all: both end it.
void HeaderScan::step_line_start(char c) {
    if (in_field_ && is_wsp(c)) {
        state_ = State::skip_line;  // RFC 5322 §2.2.3: folded continuation
    } else if (is_ftext(c)) {
        name_length_ = 0;
        state_ = State::name;
        step_name(c);
    } else {
        state_ = State::done;
    }
}

// The run of field-name octets from `at`; returns where it stops.
std::size_t HeaderScan::take_name(std::string_view octets, std::size_t at) {
    for (; at < octets.size() && is_ftext(octets[at]); ++at) {
        if (name_length_ < name_.size()) name_[name_length_] = to_lower(octets[at]);
        ++name_length_;
    }
    return at;
}

void HeaderScan::step_name(char c) {
    if (is_ftext(c)) {
        take_name(std::string_view(&c, 1), 0);
    } else if (is_wsp(c)) {
        state_ = State::before_colon;  // RFC 5322 §4.5.3: "Date :" is still Date
    } else if (c == ':') {
        end_of_field_name();
    } else {
        state_ = State::done;
    }
}

void HeaderScan::end_of_field_name() {
    if (first_line_) section_ = true;
    in_field_ = true;
    if (name_length_ <= name_.size()) {
        std::string_view name(name_.data(), name_length_);
        if (names_equal(name, "Date")) date_ = true;
        if (names_equal(name, "Message-ID")) message_id_ = true;
        if (names_equal(name, "Received")) ++received_;
    }
    state_ = State::skip_line;
}

}  // namespace bm::apps
