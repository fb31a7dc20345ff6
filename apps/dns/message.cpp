#include "apps/dns/message.hpp"

#include "apps/ascii.hpp"

namespace bm::apps::dns {

namespace {

constexpr std::size_t header_size = 12;  // RFC 1035 §4.1.1
constexpr std::size_t max_name = 255;    // RFC 1035 §2.3.4
constexpr std::size_t max_label = 63;
constexpr int max_pointers = 32;         // more jumps than any honest name needs
constexpr std::uint16_t class_in = 1;

// RFC 1035 §4.1.1 flag bits of the second 16-bit word.
constexpr std::uint16_t flag_qr = 0x8000;
constexpr std::uint16_t flag_tc = 0x0200;
constexpr std::uint16_t flag_rd = 0x0100;
constexpr std::uint16_t rcode_mask = 0x000f;
constexpr std::uint16_t rcode_servfail = 2;
constexpr std::uint16_t rcode_nxdomain = 3;

// RFC 1035 §2.3.1 preferred name syntax, which RFC 5321 §2.3.5 requires
// of every domain SMTP uses: letters, digits and hyphens. A label may hold
// any octet on the wire, but an exchange holding a dot, a line break or
// other bytes is no host SMTP can name (and would be misread as dotted
// text or forge log lines): such a record is not used.
bool is_host_label(std::string_view label) {
    for (char c : label) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string_view without_root_dot(std::string_view name) {
    if (name.ends_with('.')) name.remove_suffix(1);
    return name;
}

void put16(std::string& out, std::uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xff));
}

// A bounds-checked reader over the whole message (pointers are offsets
// from its start).
class Reader {
public:
    explicit Reader(std::string_view packet) : packet_(packet) {}

    bool u16(std::size_t& at, std::uint16_t& v) const {
        if (at + 2 > packet_.size()) return false;
        v = static_cast<std::uint16_t>((byte(at) << 8) | byte(at + 1));
        at += 2;
        return true;
    }
    bool u32(std::size_t& at, std::uint32_t& v) const {
        std::uint16_t hi = 0, lo = 0;
        if (!u16(at, hi) || !u16(at, lo)) return false;
        v = (std::uint32_t(hi) << 16) | lo;
        return true;
    }

    // RFC 1035 §4.1.4: labels, or a pointer (two top bits set) to an
    // earlier name. `at` moves past the name as written here. `host`, if
    // given, tells whether every label is a host name label.
    bool name(std::size_t& at, std::string& out, bool* host = nullptr) const {
        out.clear();
        if (host) *host = true;
        std::size_t pos = at;
        bool jumped = false;
        int pointers = 0;
        for (;;) {
            if (pos >= packet_.size()) return false;
            std::uint8_t len = byte(pos);
            if ((len & 0xc0) == 0xc0) {
                if (pos + 2 > packet_.size() || ++pointers > max_pointers) return false;
                std::size_t target = (std::size_t(len & 0x3f) << 8) | byte(pos + 1);
                if (target >= pos) return false;  // only backwards: no loops
                if (!jumped) at = pos + 2;
                jumped = true;
                pos = target;
                continue;
            }
            if ((len & 0xc0) != 0) return false;  // RFC 6891 extended labels: not ours
            if (len == 0) {
                if (!jumped) at = pos + 1;
                return true;
            }
            if (pos + 1 + len > packet_.size()) return false;
            if (!out.empty()) out += '.';
            std::string_view label = packet_.substr(pos + 1, len);
            if (host && !is_host_label(label)) *host = false;
            out += lower_copy(label);
            if (out.size() > max_name) return false;
            pos += 1 + len;
        }
    }

    std::size_t size() const { return packet_.size(); }

private:
    std::uint8_t byte(std::size_t at) const { return static_cast<std::uint8_t>(packet_[at]); }
    std::string_view packet_;
};

Response fail(Status status, std::string reason) {
    Response r;
    r.status = status;
    r.reason = std::move(reason);
    return r;
}

}  // namespace

std::optional<std::string> build_query(std::uint16_t id, std::string_view name, RecordType type) {
    name = without_root_dot(name);
    if (name.empty() || name.size() > max_name - 2) return std::nullopt;
    std::string out;
    out.reserve(header_size + name.size() + 6);
    put16(out, id);
    put16(out, flag_rd);  // RFC 1035 §4.1.1: standard query, recursion desired
    put16(out, 1);        // QDCOUNT
    put16(out, 0);
    put16(out, 0);
    put16(out, 0);
    // RFC 1035 §4.1.2: QNAME as length-prefixed labels, then QTYPE, QCLASS.
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t dot = name.find('.', start);
        if (dot == std::string_view::npos) dot = name.size();
        std::size_t len = dot - start;
        if (len == 0 || len > max_label) return std::nullopt;
        out.push_back(static_cast<char>(len));
        out.append(name.substr(start, len));
        start = dot + 1;
    }
    out.push_back('\0');
    put16(out, static_cast<std::uint16_t>(type));
    put16(out, class_in);
    return out;
}

Response parse_response(std::string_view packet, std::uint16_t id, std::string_view name,
                        RecordType type) {
    Reader in(packet);
    std::size_t at = 0;
    std::uint16_t got_id = 0, flags = 0, qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
    if (!in.u16(at, got_id) || !in.u16(at, flags) || !in.u16(at, qdcount) ||
        !in.u16(at, ancount) || !in.u16(at, nscount) || !in.u16(at, arcount))
        return fail(Status::mismatch, "shorter than a DNS header");
    if (got_id != id || !(flags & flag_qr)) return fail(Status::mismatch, "not the answer to our query");
    // RFC 1035 §7.3: the question must be ours, or the answer is someone else's.
    if (qdcount != 1) return fail(Status::mismatch, "question count is not 1");
    std::string qname;
    std::uint16_t qtype = 0, qclass = 0;
    if (!in.name(at, qname) || !in.u16(at, qtype) || !in.u16(at, qclass))
        return fail(Status::malformed, "bad question section");
    if (qname != lower_copy(without_root_dot(name)) || qtype != static_cast<std::uint16_t>(type) ||
        qclass != class_in)
        return fail(Status::mismatch, "answer is for another question");
    if (flags & flag_tc) return fail(Status::truncated, "truncated answer (TC)");
    std::uint16_t rcode = flags & rcode_mask;
    if (rcode == rcode_nxdomain) return fail(Status::nxdomain, "domain does not exist (NXDOMAIN)");
    if (rcode == rcode_servfail) return fail(Status::server_failure, "server failure (SERVFAIL)");
    if (rcode != 0) return fail(Status::server_failure, "DNS error rcode " + std::to_string(rcode));

    Response response;
    std::size_t unusable_mx = 0;
    // RFC 1035 §4.1.3: NAME TYPE CLASS TTL RDLENGTH RDATA, RDLENGTH checked
    // against the packet and against what the type's RDATA must hold.
    for (std::uint16_t i = 0; i < ancount; ++i) {
        std::string owner;
        std::uint16_t rtype = 0, rclass = 0, rdlength = 0;
        std::uint32_t ttl = 0;
        if (!in.name(at, owner) || !in.u16(at, rtype) || !in.u16(at, rclass) ||
            !in.u32(at, ttl) || !in.u16(at, rdlength) || at + rdlength > in.size())
            return fail(Status::malformed, "bad answer record");
        std::size_t rdata = at;
        std::size_t end = at + rdlength;
        at = end;
        // A CNAME chain's records have other owners; a resolver answering
        // recursively puts the chain in this section, so the type decides.
        if (rclass != class_in || rtype != static_cast<std::uint16_t>(type)) continue;
        if (type == RecordType::a) {
            std::uint32_t address = 0;
            if (rdlength != 4 || !in.u32(rdata, address)) return fail(Status::malformed, "bad A record");
            response.addresses.push_back(address);
        } else if (type == RecordType::mx) {
            MxRecord mx;
            bool host = true;
            if (!in.u16(rdata, mx.preference) || !in.name(rdata, mx.exchange, &host) || rdata != end)
                return fail(Status::malformed, "bad MX record");
            if (!host) {
                ++unusable_mx;
                continue;
            }
            response.mx.push_back(std::move(mx));
        }
    }
    // Authority and additional sections are not needed (RFC 5321 §5.1
    // looks the exchanges up on their own).
    (void)nscount;
    (void)arcount;
    // MX records that all name no host still mean the domain has MX
    // records, so RFC 5321 §5.1's fall-back to its A record does not apply:
    // a bad answer, tried again later.
    if (response.mx.empty() && unusable_mx != 0)
        return fail(Status::malformed, "MX exchange is not a host name");
    bool any = !response.mx.empty() || !response.addresses.empty();
    response.status = any ? Status::ok : Status::no_records;
    if (!any) response.reason = "no records of the type asked for";
    return response;
}

std::string_view status_name(Status status) {
    switch (status) {
        case Status::ok: return "ok";
        case Status::no_records: return "no records";
        case Status::nxdomain: return "NXDOMAIN";
        case Status::server_failure: return "server failure";
        case Status::truncated: return "truncated";
        case Status::malformed: return "malformed";
        case Status::mismatch: return "mismatch";
    }
    return "?";
}

}  // namespace bm::apps::dns
