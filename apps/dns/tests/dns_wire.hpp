// Hand-built DNS answers (RFC 1035 §4.1) for the resolver tests: a query's
// id and question read back from the bytes the client sent, and answers to
// it with any flags and records.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "apps/dns/message.hpp"

namespace bm::dns_wire {

inline std::string u16(unsigned v) { return {char(v >> 8), char(v & 0xff)}; }

inline std::uint16_t id_of(std::string_view packet) {
    return std::uint16_t((std::uint8_t(packet[0]) << 8) | std::uint8_t(packet[1]));
}

// The question section of a query we sent (name, type, class): a query has
// one question and nothing after it.
inline std::string question_of(std::string_view query) { return std::string(query.substr(12)); }

inline constexpr unsigned ok_flags = 0x8180;  // QR, RD, RA, NOERROR
inline constexpr unsigned tc_flag = 0x0200;

// Answers `query` (the bytes sent) with `ancount` records `answers`.
inline std::string answer(std::string_view query, unsigned ancount, const std::string& answers,
                          unsigned flags = ok_flags, int id_delta = 0) {
    return u16(unsigned(id_of(query) + id_delta) & 0xffff) + u16(flags) + u16(1) + u16(ancount) + u16(0) +
           u16(0) + question_of(query) + answers;
}

// A record whose owner is a pointer to the question name (offset 12).
inline std::string record(apps::dns::RecordType type, const std::string& rdata) {
    return "\xc0\x0c" + u16(unsigned(type)) + u16(1) + u16(0) + u16(300) + u16(unsigned(rdata.size())) + rdata;
}

inline std::string a_record(std::uint32_t ip) {
    return record(apps::dns::RecordType::a,
                  std::string{char(ip >> 24), char(ip >> 16), char(ip >> 8), char(ip)});
}

// An MX record for `exchange` (one label under the question name: "mx" +
// pointer to offset 12 keeps it short).
inline std::string mx_record(unsigned preference, std::string_view label) {
    std::string exchange = std::string(1, char(label.size())) + std::string(label) + "\xc0\x0c";
    return record(apps::dns::RecordType::mx, u16(preference) + exchange);
}

}  // namespace bm::dns_wire
