// Digests the store needs: hex MD5 for APOP (RFC 1939 §7) and for UIDLs,
// and a constant-time equality for secrets. OpenSSL EVP does the hashing.
#pragma once

#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace bm::store {

// MD5 fed piece by piece (a file or message read in pieces); hex() gives
// what hex_md5 gives for the concatenation of the pieces, "" if OpenSSL
// failed. reset() starts again.
class Md5 {
public:
    Md5();
    void reset();
    void update(std::string_view bytes);
    std::string hex();

private:
    std::unique_ptr<evp_md_ctx_st, void (*)(evp_md_ctx_st*)> ctx_;
    bool ok_ = false;
};

// Lower-case hex MD5 of the concatenation of `parts`.
std::string hex_md5(std::initializer_list<std::string_view> parts);

// Equality whose running time does not depend on where `a` and `b` differ
// or on their lengths (both are hashed first), so a password cannot be
// guessed octet by octet from response times.
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace bm::store
