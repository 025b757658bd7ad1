// The client's trust decisions, as pure functions of (signed bytes, pinned config, remembered state,
// now), so every refusal is testable without a network. Order follows the registry design:
// key pinned -> comment signature -> registry name -> rollback/equivocation -> expiry -> index bytes.
#pragma once

#include "registry/index_format.hpp"
#include "registry/minisign.hpp"

#include <hotpatch/error.hpp>

#include <optional>
#include <span>
#include <string_view>

namespace hotpatch::registry {

struct CheckedPointer {
  minisign::Signature signature;
  minisign::PublicKey signer;
  IndexPointer pointer;
};

/// What a client pins and remembers; `last_version`/`last_sha256` are empty on first contact.
struct TrustAnchor {
  std::span<const minisign::PublicKey> keys;
  std::string_view registry;
  std::optional<std::uint64_t> last_version;
  std::string_view last_sha256;
};

/// Verifies index.minisig's key and trusted comment and applies the rollback, equivocation and
/// freeze rules. Errors: parse, untrusted_key, signature, integrity (other registry), rollback, expired.
Result<CheckedPointer> check_pointer(std::string_view minisig_text, const TrustAnchor& anchor, TimePoint now);

/// Verifies index/<sha>.json against a checked pointer: hash, file signature, strict JSON, and that
/// the document says the same registry, version and expiry as the signed comment.
Result<Index> check_index(const CheckedPointer& pointer, std::string_view index_text);

/// A blob matches its signed entry byte for byte (size first: it is cheaper and says more).
Status check_blob(const IndexEntry& entry, std::span<const std::uint8_t> data);

}  // namespace hotpatch::registry
