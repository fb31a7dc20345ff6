#include "store/digest.hpp"

#include <array>
#include <memory>
#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace bm::store {
namespace {

using Context = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// Returns the raw digest length, 0 if OpenSSL failed.
unsigned digest(const EVP_MD* md, std::initializer_list<std::string_view> parts,
                std::array<unsigned char, EVP_MAX_MD_SIZE>& out) {
    Context ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return 0;
    for (auto part : parts)
        if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) return 0;
    unsigned len = 0;
    if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1) return 0;
    return len;
}

}  // namespace

Md5::Md5() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) { reset(); }

void Md5::reset() { ok_ = ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_md5(), nullptr) == 1; }

void Md5::update(std::string_view bytes) {
    if (ok_ && !bytes.empty()) ok_ = EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) == 1;
}

std::string Md5::hex() {
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!ok_ || EVP_DigestFinal_ex(ctx_.get(), raw, &len) != 1) len = 0;
    ok_ = false;
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out.push_back(digits[raw[i] >> 4]);
        out.push_back(digits[raw[i] & 0xf]);
    }
    return out;
}

std::string hex_md5(std::initializer_list<std::string_view> parts) {
    Md5 md5;
    for (std::string_view part : parts) md5.update(part);
    return md5.hex();
}

bool equal_constant_time(std::string_view a, std::string_view b) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> da{}, db{};
    unsigned la = digest(EVP_sha256(), {a}, da);
    unsigned lb = digest(EVP_sha256(), {b}, db);
    if (la == 0 || la != lb) return false;
    return CRYPTO_memcmp(da.data(), db.data(), la) == 0;
}

}  // namespace bm::store
