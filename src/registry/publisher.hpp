// Publishing to a registry directory: blobs first, then the new immutable index, then the signed
// pointer (index.minisig) last, each by atomic rename, so a reader at any moment sees either the old
// registry or the new one, never a pointer to files that are not there yet.
#pragma once

#include "registry/index_format.hpp"
#include "registry/minisign.hpp"

#include <hotpatch/error.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hotpatch::registry {

/// One patch object and what its manifest says (the CLI reads it with read_patch_manifest).
struct PublishItem {
  std::string path;
  std::string id;
  std::uint32_t version = 0;
  std::string about;
  std::string target_build_id;
  std::string target_module;
  std::vector<std::string> replaces;
};

struct PublishRequest {
  std::string registry_dir;
  minisign::SecretKey key;
  /// Empty: keep the existing registry's name (required for a new registry).
  std::string registry_name;
  /// How long the new index stays valid; clients refuse it afterwards (freeze protection).
  std::chrono::seconds validity = std::chrono::hours(24 * 7);
  /// Items in order; each must be newer than what the registry (or an earlier item) has for its id.
  std::vector<PublishItem> patches;
  /// Staged rollout: patch id -> share of hosts (1 to 100) for an entry of this publish or one
  /// already published. An id not named keeps its share (a new id: 100); a new version of an id
  /// keeps the id's share.
  std::map<std::string, std::uint32_t> rollout;
  TimePoint now = std::chrono::system_clock::now();
};

struct PublishResult {
  Index index;
  std::string index_sha256;
  std::vector<std::string> new_blobs;  ///< sha256 of blobs that were not in the registry before
};

/// Reads the current registry (which must verify with the request's key), merges the patches in, and
/// publishes the next index version. With no patches it re-signs the same entries with a new expiry.
Result<PublishResult> publish(const PublishRequest& request);

/// The registry's current index, verified with `key` (expiry not judged: publishers may renew).
/// An empty optional when the directory holds no registry yet.
Result<std::optional<Index>> read_published_index(const std::string& registry_dir, const minisign::PublicKey& key);

}  // namespace hotpatch::registry
