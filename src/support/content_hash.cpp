#include "support/content_hash.hpp"

#include <sodium.h>

#include <array>

namespace hotpatch::support {

std::string sha256_hex(std::span<const std::uint8_t> data) {
  // sodium_init() is idempotent and thread-safe; the hash does not depend on it, but libsodium
  // asks every user to call it before any other function.
  static const bool ready = sodium_init() >= 0;
  (void)ready;
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), data.data(), data.size());
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (unsigned char b : digest) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

}  // namespace hotpatch::support
