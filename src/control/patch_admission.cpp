#include "control/patch_admission.hpp"

#include "registry/sha256.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <span>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::control {
namespace {

constexpr off_t max_patch_bytes = 64 * 1024 * 1024;
constexpr int required_seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;

std::string describe_keys(const std::vector<registry::minisign::PublicKey>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "key " : ", key ") + registry::minisign::key_id_text(k.id);
  return out;
}

Status check_policy(const std::string& source, const ApplyCredentials& c, const PatchTrust& trust) {
  if (trust.keys.empty() && !trust.allow_unsigned) {
    return make_error(ErrorCode::signature, source,
                      "refused: this process pins no signing key, so it accepts no patch over its control socket; "
                      "start it with HOTPATCH_TRUSTED_KEY=/path/to/key.pub (or a key directory), or pass "
                      "trusted_keys to enable_control() (HOTPATCH_ALLOW_UNSIGNED=1 accepts unsigned patches, for "
                      "development only)");
  }
  if (c.allow_unsigned && !trust.allow_unsigned) {
    return make_error(ErrorCode::signature, source,
                      "refused: this process accepts only patches signed by " + describe_keys(trust.keys) +
                          "; --allow-unsigned works only against a process started with HOTPATCH_ALLOW_UNSIGNED=1");
  }
  if (!c.allow_unsigned && c.signature.empty() && !trust.allow_unsigned) {
    return make_error(ErrorCode::signature, source,
                      "refused: no signature came with the patch (sign it with `hotpatch sign --key KEY " + source +
                          "`, which writes the .minisig the CLI sends)");
  }
  return {};
}

Result<std::vector<std::uint8_t>> read_sealed(int fd, const std::string& source) {
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & required_seals) != required_seals) {
    return make_error(ErrorCode::invalid_argument, source,
                      "the attached descriptor is not a sealed memory file (memfd sealed against write, shrink and "
                      "grow), so its bytes could change after they are checked; refused");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::invalid_argument, source, "the attached descriptor is not a regular memory file");
  }
  if (st.st_size > max_patch_bytes) {
    return make_error(ErrorCode::too_large, source,
                      "is " + std::to_string(st.st_size) + " bytes, above the " + std::to_string(max_patch_bytes) +
                          "-byte limit");
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    // pread: the sender's file offset is shared with us and says nothing about where the data is.
    ssize_t n = ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(ErrorCode::io, source, "cannot read the attached patch: " + std::string(n < 0 ? std::strerror(errno) : "short read"));
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

Result<std::string> verify(const std::string& source, const std::string& text, std::span<const std::uint8_t> bytes,
                           const PatchTrust& trust) {
  auto sig = registry::minisign::parse_signature(text);
  if (!sig) return make_error(ErrorCode::signature, source, "its signature is malformed: " + sig.error().message);
  auto signer = registry::minisign::find_signer(*sig, trust.keys);
  if (!signer) {
    return make_error(ErrorCode::untrusted_key, source,
                      "is signed by key " + registry::minisign::key_id_text(sig->key_id) +
                          ", which this process does not pin (it accepts " + describe_keys(trust.keys) + ")");
  }
  if (auto s = registry::minisign::verify_data(*sig, *signer, bytes); !s) {
    return make_error(ErrorCode::signature, source,
                      "its signature by key " + registry::minisign::key_id_text(signer->id) +
                          " does not match the patch bytes (" + s.error().message + ")");
  }
  if (auto s = registry::minisign::verify_trusted_comment(*sig, *signer); !s) {
    return make_error(ErrorCode::signature, source, "its signature's trusted comment does not verify (" + s.error().message + ")");
  }
  return registry::minisign::key_id_text(signer->id);
}

}  // namespace

Result<PatchTrust> PatchTrust::from(const std::vector<std::string>& key_texts, bool allow_unsigned) {
  PatchTrust t;
  t.allow_unsigned = allow_unsigned;
  for (std::size_t i = 0; i < key_texts.size(); ++i) {
    auto key = registry::minisign::parse_public_key(key_texts[i]);
    if (!key) return make_error(ErrorCode::parse, "trusted_keys[" + std::to_string(i) + "]", key.error().message);
    bool known = false;
    for (const auto& k : t.keys) known = known || k.key == key->key;
    if (!known) t.keys.push_back(*key);
  }
  return t;
}

std::string PatchTrust::describe() const {
  std::string keys = describe_keys(this->keys);
  if (allow_unsigned) return keys.empty() ? "unsigned patches (development)" : keys + " and unsigned patches (development)";
  return keys.empty() ? "no patch (no signing key pinned)" : "patches signed by " + keys;
}

Result<AdmittedPatch> admit_patch(int fd, const std::string& source, const ApplyCredentials& credentials,
                                  const PatchTrust& trust) {
  HOTPATCH_TRY(check_policy(source, credentials, trust));
  HOTPATCH_LET(bytes, read_sealed(fd, source));
  AdmittedPatch admitted;
  const std::span<const std::uint8_t> view(bytes);
  // A signature that came along is checked whenever a key is pinned, even where unsigned patches
  // are allowed: a bad signature is never a good sign.
  if (!credentials.allow_unsigned && !credentials.signature.empty() && !trust.keys.empty()) {
    HOTPATCH_LET(signer, verify(source, credentials.signature, view, trust));
    admitted.signer = std::move(signer);
  }
  admitted.sha256 = registry::sha256_hex(view);
  admitted.bytes = std::move(bytes);
  return admitted;
}

}  // namespace hotpatch::control
