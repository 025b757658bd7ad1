#include "registry/trust_check.hpp"

#include "registry/encoding.hpp"
#include "registry/sha256.hpp"

namespace hotpatch::registry {

Result<CheckedPointer> check_pointer(std::string_view minisig_text, const TrustAnchor& anchor, TimePoint now) {
  HOTPATCH_LET(sig, minisign::parse_signature(minisig_text));
  HOTPATCH_LET(signer, minisign::find_signer(sig, anchor.keys));
  HOTPATCH_TRY(minisign::verify_trusted_comment(sig, signer));
  HOTPATCH_LET(pointer, parse_pointer_comment(sig.trusted_comment));
  if (pointer.registry != anchor.registry) {
    return make_error(ErrorCode::integrity, "index.minisig",
                      "is signed for registry '" + pointer.registry + "', but this client trusts registry '" +
                          std::string(anchor.registry) + "'");
  }
  if (anchor.last_version) {
    if (pointer.version < *anchor.last_version) {
      return make_error(ErrorCode::rollback, "index.minisig",
                        "index version " + std::to_string(pointer.version) + " is older than version " +
                            std::to_string(*anchor.last_version) + " already seen (rollback refused)");
    }
    if (pointer.version == *anchor.last_version && pointer.index_sha256 != anchor.last_sha256) {
      return make_error(ErrorCode::rollback, "index.minisig",
                        "index version " + std::to_string(pointer.version) + " now names sha256 " +
                            pointer.index_sha256 + " but named " + std::string(anchor.last_sha256) +
                            " before (same version, different content: equivocation refused)");
    }
  }
  if (pointer.expires <= now) {
    return make_error(ErrorCode::expired, "index.minisig",
                      "index version " + std::to_string(pointer.version) + " expired at " +
                          format_timestamp(pointer.expires) + " (now " + format_timestamp(now) +
                          "); refusing a stale registry (freeze)");
  }
  return CheckedPointer{std::move(sig), signer, std::move(pointer)};
}

Result<Index> check_index(const CheckedPointer& cp, std::string_view index_text) {
  const std::string subject = "index/" + cp.pointer.index_sha256 + ".json";
  auto actual = sha256_hex(as_bytes(index_text));
  if (actual != cp.pointer.index_sha256) {
    return make_error(ErrorCode::integrity, subject,
                      "has sha256 " + actual + ", the signed pointer names " + cp.pointer.index_sha256);
  }
  HOTPATCH_TRY(minisign::verify_data(cp.signature, cp.signer, as_bytes(index_text)));
  HOTPATCH_LET(index, parse_index(index_text));
  if (index.registry != cp.pointer.registry || index.version != cp.pointer.version ||
      index.expires != cp.pointer.expires) {
    return make_error(ErrorCode::integrity, subject,
                      "says registry '" + index.registry + "' version " + std::to_string(index.version) +
                          " expires " + format_timestamp(index.expires) + ", its signature says registry '" +
                          cp.pointer.registry + "' version " + std::to_string(cp.pointer.version) +
                          " expires " + format_timestamp(cp.pointer.expires));
  }
  return index;
}

Status check_blob(const IndexEntry& entry, std::span<const std::uint8_t> data) {
  const std::string subject = "blob of patch " + entry.id + " v" + std::to_string(entry.patch_version);
  if (data.size() != entry.blob_size) {
    return make_error(ErrorCode::integrity, subject,
                      "has " + std::to_string(data.size()) + " bytes, the signed index says " +
                          std::to_string(entry.blob_size));
  }
  auto actual = sha256_hex(data);
  if (actual != entry.blob_sha256) {
    return make_error(ErrorCode::integrity, subject,
                      "has sha256 " + actual + ", the signed index says " + entry.blob_sha256);
  }
  return {};
}

}  // namespace hotpatch::registry
