// SPEC --dns default: the first nameserver of /etc/resolv.conf.
#pragma once

#include <string>

namespace bm {

// The first "nameserver a.b.c.d" line's address, or "" if there is none
// (IPv6 nameservers are skipped: the relay client asks over IPv4).
std::string system_nameserver(const std::string& resolv_conf = "/etc/resolv.conf");

}  // namespace bm
