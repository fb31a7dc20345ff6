// The DNS codec against any answer packet (a hostile or broken resolver,
// or an off-path forger).
//
// Input: 3 settings octets (0: bit 0 MX else A; 1-2: the query id), then
// the packet, as the answer to a query for "example.com".
//
// Beyond "no crash": an ok answer carries records of the type asked; every
// MX exchange is the null MX or a host name (RFC 5321 §2.3.5: letters,
// digits, hyphens in labels of 1..63, at most 255 octets, lower case) that
// can itself be asked for (build_query); a packet with another id is never
// taken; the reason text survives the log's escaping.
#include <cstdint>
#include <string>

#include "apps/dns/message.hpp"
#include "harness/fuzz/fuzz_support.hpp"

namespace {

using namespace bm;
using namespace bm::fuzz;
namespace dns = bm::apps::dns;

void check_host_name(const std::string& name) {
    if (name.empty()) return;  // RFC 7505 null MX "."
    check(name.size() <= 255, "exchange longer than 255 octets", name);
    std::size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            check(label > 0, "empty label in exchange", name);
            label = 0;
            continue;
        }
        check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-', "exchange is not a lower-case host name",
              name);
        check(++label <= 63, "label longer than 63 octets", name);
    }
    check(label > 0, "exchange ends in an empty label", name);
    check(dns::build_query(1, name, dns::RecordType::a).has_value(), "exchange cannot be looked up", name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size, 3);
    dns::RecordType type = (in.setting(0) & 1) ? dns::RecordType::mx : dns::RecordType::a;
    auto id = std::uint16_t(in.setting(1) << 8 | in.setting(2));
    dns::Response r = dns::parse_response(in.stream, id, "example.com", type);
    check_log_field(r.reason);
    check(dns::status_name(r.status) != "?", "unknown status");
    if (r.status == dns::Status::ok) {
        if (type == dns::RecordType::mx) check(!r.mx.empty() && r.addresses.empty(), "ok MX answer without MX records");
        else check(!r.addresses.empty() && r.mx.empty(), "ok A answer without addresses");
    } else {
        check(r.mx.empty() && r.addresses.empty(), "records kept from a failed answer");
    }
    for (const dns::MxRecord& mx : r.mx) check_host_name(mx.exchange);
    if (r.status != dns::Status::mismatch && in.stream.size() >= 2) {
        // The same packet under another id is someone else's answer.
        dns::Response other = dns::parse_response(in.stream, std::uint16_t(id + 1), "example.com", type);
        check(other.status == dns::Status::mismatch, "an answer was taken for another query id");
    }
    return 0;
}
