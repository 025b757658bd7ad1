// Signature files, four lines:
//   untrusted comment: <text>
//   base64("ED" | key id (8) | Ed25519(BLAKE2b-512(file)))      ("Ed": Ed25519(file), legacy)
//   trusted comment: <text>
//   base64(Ed25519(signature (64) | trusted comment))
#include "registry/encoding.hpp"
#include "registry/minisign.hpp"

#include <sodium.h>

#include <algorithm>
#include <vector>

namespace hotpatch::registry::minisign {
namespace {

constexpr std::string_view untrusted_prefix = "untrusted comment: ";
constexpr std::string_view trusted_prefix = "trusted comment: ";
// minisign's own limit; a longer comment is not something it would have produced.
constexpr std::size_t comment_max = 1024;

Error sig_error(std::string message) { return make_error(ErrorCode::parse, "signature", std::move(message)); }

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    // As minisign reads lines: every trailing CR goes (one CR only would let a comment ending in CR
    // parse differently after it is written back).
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::array<std::uint8_t, crypto_generichash_BYTES_MAX> blake2b512(std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, crypto_generichash_BYTES_MAX> out{};
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
  return out;
}

std::vector<std::uint8_t> global_message(const Signature& sig) {
  std::vector<std::uint8_t> msg(sig.signature.begin(), sig.signature.end());
  msg.insert(msg.end(), sig.trusted_comment.begin(), sig.trusted_comment.end());
  return msg;
}

}  // namespace

Result<Signature> parse_signature(std::string_view text) {
  auto lines = split_lines(text);
  if (lines.size() < 4) return sig_error("has " + std::to_string(lines.size()) + " lines, a minisign signature has 4");
  for (std::size_t i = 4; i < lines.size(); ++i) {
    if (!lines[i].empty()) return sig_error("has text after its 4 lines");
  }
  if (!lines[0].starts_with(untrusted_prefix)) return sig_error("line 1 is not an untrusted comment");
  if (!lines[2].starts_with(trusted_prefix)) return sig_error("line 3 is not a trusted comment");
  Signature sig;
  sig.untrusted_comment = std::string(lines[0].substr(untrusted_prefix.size()));
  sig.trusted_comment = std::string(lines[2].substr(trusted_prefix.size()));
  if (sig.trusted_comment.size() > comment_max || sig.untrusted_comment.size() > comment_max) {
    return sig_error("comment is longer than 1024 bytes");
  }
  HOTPATCH_LET(raw, from_base64(lines[1], "signature"));
  if (raw.size() != 2 + 8 + 64 || raw[0] != 'E' || (raw[1] != 'D' && raw[1] != 'd')) {
    return sig_error("line 2 is not a minisign Ed25519 signature");
  }
  sig.prehashed = raw[1] == 'D';
  std::copy_n(raw.begin() + 2, 8, sig.key_id.begin());
  std::copy_n(raw.begin() + 10, 64, sig.signature.begin());
  HOTPATCH_LET(global, from_base64(lines[3], "global signature"));
  if (global.size() != 64) return sig_error("line 4 is not an Ed25519 signature");
  std::copy_n(global.begin(), 64, sig.global_signature.begin());
  return sig;
}

std::string format_signature(const Signature& sig) {
  std::vector<std::uint8_t> raw{'E', static_cast<std::uint8_t>(sig.prehashed ? 'D' : 'd')};
  raw.insert(raw.end(), sig.key_id.begin(), sig.key_id.end());
  raw.insert(raw.end(), sig.signature.begin(), sig.signature.end());
  return std::string(untrusted_prefix) + sig.untrusted_comment + "\n" + to_base64(raw) + "\n" +
         std::string(trusted_prefix) + sig.trusted_comment + "\n" + to_base64(sig.global_signature) + "\n";
}

Signature sign(const SecretKey& key, std::span<const std::uint8_t> data, std::string trusted_comment,
               std::string untrusted_comment) {
  ensure_sodium();
  Signature sig;
  sig.key_id = key.id;
  sig.prehashed = true;
  sig.trusted_comment = std::move(trusted_comment);
  sig.untrusted_comment = std::move(untrusted_comment);
  auto digest = blake2b512(data);
  crypto_sign_detached(sig.signature.data(), nullptr, digest.data(), digest.size(), key.key.data());
  auto msg = global_message(sig);
  crypto_sign_detached(sig.global_signature.data(), nullptr, msg.data(), msg.size(), key.key.data());
  return sig;
}

Result<PublicKey> find_signer(const Signature& sig, std::span<const PublicKey> trusted) {
  for (const auto& key : trusted) {
    if (key.id == sig.key_id) return key;
  }
  return make_error(ErrorCode::untrusted_key, "signature",
                    "made by key " + key_id_text(sig.key_id) + ", which is not a trusted key");
}

Status verify_trusted_comment(const Signature& sig, const PublicKey& key) {
  ensure_sodium();
  auto msg = global_message(sig);
  if (crypto_sign_verify_detached(sig.global_signature.data(), msg.data(), msg.size(), key.key.data()) != 0) {
    return make_error(ErrorCode::signature, "signature",
                      "trusted comment does not verify with key " + key_id_text(key.id) + " (altered)");
  }
  return {};
}

Status verify_data(const Signature& sig, const PublicKey& key, std::span<const std::uint8_t> data) {
  ensure_sodium();
  int rc;
  if (sig.prehashed) {
    auto digest = blake2b512(data);
    rc = crypto_sign_verify_detached(sig.signature.data(), digest.data(), digest.size(), key.key.data());
  } else {
    rc = crypto_sign_verify_detached(sig.signature.data(), data.data(), data.size(), key.key.data());
  }
  if (rc != 0) {
    return make_error(ErrorCode::signature, "signature",
                      "signed file does not verify with key " + key_id_text(key.id) + " (file altered)");
  }
  return {};
}

}  // namespace hotpatch::registry::minisign
