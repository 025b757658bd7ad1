// minisign-compatible Ed25519 keys and signatures (https://jedisct1.github.io/minisign/), so that
// operators can sign and check registry files with Debian's `minisign` as well as with hotpatch.
#pragma once

#include <hotpatch/error.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace hotpatch::registry::minisign {

using KeyId = std::array<std::uint8_t, 8>;

struct PublicKey {
  KeyId id{};
  std::array<std::uint8_t, 32> key{};
};

struct SecretKey {
  KeyId id{};
  std::array<std::uint8_t, 64> key{};  ///< libsodium layout: seed then public key
  PublicKey public_key() const;
};

/// The key id as minisign prints it: 16 upper-case hex digits of the little-endian number.
std::string key_id_text(const KeyId& id);

/// Accepts the bare base64 line (what `minisign -P` takes) or the whole .pub file.
Result<PublicKey> parse_public_key(std::string_view text);
/// The base64 line alone.
std::string public_key_line(const PublicKey& key);
/// A .pub file: untrusted comment naming the key id, then the base64 line.
std::string format_public_key(const PublicKey& key);

/// Reads an unencrypted secret key file as `minisign -G -W` or `hotpatch keygen` write it.
Result<SecretKey> parse_secret_key(std::string_view text);
/// Writes the unencrypted format minisign reads; the file must stay private (mode 0600).
std::string format_secret_key(const SecretKey& key);
SecretKey generate_secret_key();

struct Signature {
  KeyId key_id{};
  bool prehashed = true;  ///< "ED": signs BLAKE2b-512 of the file; "Ed": the legacy raw form
  std::array<std::uint8_t, 64> signature{};
  std::string untrusted_comment;
  std::string trusted_comment;
  std::array<std::uint8_t, 64> global_signature{};  ///< over signature || trusted comment
};

Result<Signature> parse_signature(std::string_view text);
std::string format_signature(const Signature& sig);

/// Always makes prehashed ("ED") signatures, minisign's default since 0.11.
Signature sign(const SecretKey& key, std::span<const std::uint8_t> data, std::string trusted_comment,
               std::string untrusted_comment = "signature from hotpatch secret key");

/// The pinned key that made `sig`, or untrusted_key when none matches its key id.
Result<PublicKey> find_signer(const Signature& sig, std::span<const PublicKey> trusted);
/// Checks the global signature, which is what makes the trusted comment trustworthy.
Status verify_trusted_comment(const Signature& sig, const PublicKey& key);
/// Checks the signature over the signed file's bytes.
Status verify_data(const Signature& sig, const PublicKey& key, std::span<const std::uint8_t> data);

}  // namespace hotpatch::registry::minisign
