// The arguments of MAIL and RCPT: a path in angle brackets and, for MAIL,
// ESMTP parameters (RFC 5321 §4.1.1.2, §4.1.1.3, grammar in §4.1.2).
//
// Read first: RFC 5321 §4.1.2 (Path, Mailbox, Local-part, Domain,
// address-literal), §4.5.3.1 (size limits), RFC 1870 (SIZE), RFC 6152
// (BODY=8BITMIME). The input comes from the network: nothing in it is
// trusted, every length is checked against the RFC limits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bm::apps {

// RFC 6152 §2: BODY=7BIT or BODY=8BITMIME on MAIL.
enum class BodyType { unspecified, seven_bit, eight_bit_mime };

struct MailParameters {
    std::optional<std::uint64_t> size;  // RFC 1870 SIZE=N as declared (0 = unknown)
    BodyType body = BodyType::unspecified;
};

// A parsed reverse-path or forward-path, source route already dropped.
struct Path {
    std::string local_part;  // as written: a quoted local part keeps its quotes
    std::string domain;      // lower-cased; empty for <> and bare <postmaster>

    bool is_null() const { return local_part.empty(); }
    // "local@domain", "postmaster", or "" for the null path.
    std::string address() const;
    // The local part with quoting undone, for mailbox lookup.
    std::string unquoted_local_part() const;
};

enum class PathError {
    none,
    keyword,            // not "FROM:" / "TO:" at all          -> 501 5.5.4
    address,            // the path is malformed or too long   -> 501 5.1.7 / 5.1.3
    unknown_parameter,  // an ESMTP keyword we did not offer   -> 555 5.5.4
    bad_parameter,      // a known keyword with a bad value    -> 501 5.5.4
};

struct PathArgument {
    PathError error = PathError::none;
    std::string reason;  // what was wrong, for the reply and the log
    Path path;
    MailParameters parameters;

    bool ok() const { return error == PathError::none; }
};

// `argument` is what follows the verb: "FROM:<a@b> SIZE=10".
PathArgument parse_mail_from(std::string_view argument);
// `argument` is what follows the verb: "TO:<a@b>".
PathArgument parse_rcpt_to(std::string_view argument);

}  // namespace bm::apps
