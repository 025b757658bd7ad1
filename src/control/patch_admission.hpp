// What a process accepts over its control socket: a sealed memory file whose bytes carry a valid
// signature by a key the process itself pins. The trust decision is made here, in the process,
// on the very bytes the engine will load; the CLI's own check is only an early, friendlier error.
#pragma once

#include "registry/minisign.hpp"

#include <hotpatch/error.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace hotpatch::control {

struct PatchTrust {
  std::vector<registry::minisign::PublicKey> keys;
  bool allow_unsigned = false;

  /// Parses pinned key texts (.pub file contents or base64 lines).
  static Result<PatchTrust> from(const std::vector<std::string>& key_texts, bool allow_unsigned);
  /// "key 1A2B..., key 3C4D..." or a sentence saying no key is pinned.
  std::string describe() const;
};

struct AdmittedPatch {
  std::vector<std::uint8_t> bytes;
  std::string sha256;
  std::string signer;  ///< key id of the pinned key that signed it; empty when admitted unsigned
};

struct ApplyCredentials {
  std::string signature;        ///< detached minisign signature text sent with the patch ("" for none)
  bool allow_unsigned = false;  ///< the operator asked to apply without a signature
};

/// Checks, in this order: the policy allows the request at all, the descriptor is a sealed memfd
/// (write, shrink and grow sealed, so its bytes cannot change after this), its size, and the
/// signature over the bytes read from it. `source` names the patch in errors.
Result<AdmittedPatch> admit_patch(int fd, const std::string& source, const ApplyCredentials& credentials,
                                  const PatchTrust& trust);

}  // namespace hotpatch::control
