// Key files. Layouts (all after base64 decoding):
//   public: "Ed" | key id (8) | Ed25519 public key (32)
//   secret: "Ed" | kdf alg (2) | "B2" | salt (32) | opslimit (8) | memlimit (8)
//           | key id (8) | Ed25519 secret key (64) | checksum (32)
// with kdf alg zero for unencrypted keys and "Sc" when the key part is scrypt-encrypted.
#include "registry/encoding.hpp"
#include "registry/minisign.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

namespace hotpatch::registry::minisign {
namespace {

constexpr std::size_t public_key_bytes = 2 + 8 + 32;
constexpr std::size_t secret_key_bytes = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;
constexpr std::size_t secret_id_offset = 2 + 2 + 2 + 32 + 8 + 8;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// Key files hold an untrusted comment line and then the key line; a bare key line is also fine.
std::string_view key_line(std::string_view text) {
  text = trim(text);
  if (text.starts_with("untrusted comment:")) {
    auto nl = text.find('\n');
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto end = text.find('\n');
    if (end != std::string_view::npos) text = text.substr(0, end);
  }
  return trim(text);
}

std::array<std::uint8_t, 32> key_checksum(const KeyId& id, const std::array<std::uint8_t, 64>& sk) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>("Ed"), 2);
  crypto_generichash_update(&st, id.data(), id.size());
  crypto_generichash_update(&st, sk.data(), sk.size());
  std::array<std::uint8_t, 32> out{};
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

}  // namespace

PublicKey SecretKey::public_key() const {
  PublicKey pk;
  pk.id = id;
  crypto_sign_ed25519_sk_to_pk(pk.key.data(), key.data());
  return pk;
}

std::string key_id_text(const KeyId& id) {
  std::string out;
  char buf[3];
  for (auto it = id.rbegin(); it != id.rend(); ++it) {
    std::snprintf(buf, sizeof buf, "%02X", *it);
    out += buf;
  }
  return out;
}

Result<PublicKey> parse_public_key(std::string_view text) {
  HOTPATCH_LET(raw, from_base64(key_line(text), "public key"));
  if (raw.size() != public_key_bytes || raw[0] != 'E' || raw[1] != 'd') {
    return make_error(ErrorCode::parse, "public key", "is not a minisign Ed25519 public key");
  }
  PublicKey pk;
  std::copy_n(raw.begin() + 2, 8, pk.id.begin());
  std::copy_n(raw.begin() + 10, 32, pk.key.begin());
  return pk;
}

std::string public_key_line(const PublicKey& key) {
  std::vector<std::uint8_t> raw{'E', 'd'};
  raw.insert(raw.end(), key.id.begin(), key.id.end());
  raw.insert(raw.end(), key.key.begin(), key.key.end());
  return to_base64(raw);
}

std::string format_public_key(const PublicKey& key) {
  return "untrusted comment: minisign public key " + key_id_text(key.id) + "\n" + public_key_line(key) + "\n";
}

Result<SecretKey> parse_secret_key(std::string_view text) {
  HOTPATCH_LET(raw, from_base64(key_line(text), "secret key"));
  if (raw.size() != secret_key_bytes || raw[0] != 'E' || raw[1] != 'd' || raw[4] != 'B' || raw[5] != '2') {
    return make_error(ErrorCode::parse, "secret key", "is not a minisign Ed25519 secret key");
  }
  if (raw[2] != 0 || raw[3] != 0) {
    return make_error(ErrorCode::parse, "secret key",
                      "is password-protected; hotpatch reads unencrypted keys only "
                      "(make one with `minisign -G -W` or `hotpatch keygen`)");
  }
  SecretKey sk;
  std::copy_n(raw.begin() + secret_id_offset, 8, sk.id.begin());
  std::copy_n(raw.begin() + secret_id_offset + 8, 64, sk.key.begin());
  std::array<std::uint8_t, 32> chk{};
  std::copy_n(raw.begin() + secret_id_offset + 8 + 64, 32, chk.begin());
  // minisign 0.11 leaves the checksum of unencrypted keys zero; when one is present it must match.
  bool zero = std::all_of(chk.begin(), chk.end(), [](std::uint8_t b) { return b == 0; });
  if (!zero && chk != key_checksum(sk.id, sk.key)) {
    return make_error(ErrorCode::parse, "secret key", "checksum does not match (file damaged)");
  }
  // The public half is stored inside the secret key; it must be the one the seed derives.
  std::array<std::uint8_t, 32> pk{};
  std::array<std::uint8_t, 64> derived{};
  crypto_sign_ed25519_seed_keypair(pk.data(), derived.data(), sk.key.data());
  bool consistent = sodium_memcmp(derived.data(), sk.key.data(), derived.size()) == 0;
  sodium_memzero(derived.data(), derived.size());
  sodium_memzero(raw.data(), raw.size());
  if (!consistent) return make_error(ErrorCode::parse, "secret key", "is inconsistent (file damaged)");
  return sk;
}

std::string format_secret_key(const SecretKey& key) {
  std::vector<std::uint8_t> raw(secret_key_bytes, 0);
  raw[0] = 'E';
  raw[1] = 'd';
  raw[4] = 'B';
  raw[5] = '2';
  std::copy(key.id.begin(), key.id.end(), raw.begin() + secret_id_offset);
  std::copy(key.key.begin(), key.key.end(), raw.begin() + secret_id_offset + 8);
  auto chk = key_checksum(key.id, key.key);
  std::copy(chk.begin(), chk.end(), raw.begin() + secret_id_offset + 8 + 64);
  std::string out = "untrusted comment: minisign secret key " + key_id_text(key.id) + " (unencrypted)\n" +
                    to_base64(raw) + "\n";
  sodium_memzero(raw.data(), raw.size());
  return out;
}

SecretKey generate_secret_key() {
  ensure_sodium();
  SecretKey sk;
  std::array<std::uint8_t, 32> pk{};
  crypto_sign_keypair(pk.data(), sk.key.data());
  randombytes_buf(sk.id.data(), sk.id.size());
  return sk;
}

}  // namespace hotpatch::registry::minisign
