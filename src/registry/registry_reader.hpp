// Reads a registry over its mirrors: the pointer (index.minisig), then the index it names when it is
// new, then blobs on demand. Every byte returned has passed trust_check.
#pragma once

#include "registry/fetcher.hpp"
#include "registry/trust_check.hpp"

#include <optional>
#include <span>
#include <string>

namespace hotpatch::registry {

struct ReadRequest {
  std::span<const std::string> urls;  ///< mirrors, tried in order
  TrustAnchor anchor;
  FetchLimits pointer_limits;
  FetchLimits index_limits;
  std::string_view cached_pointer;  ///< the accepted pointer text; a 304 re-checks this one
  std::string_view etag;            ///< its ETag, sent only to etag_url
  std::string_view etag_url;
  bool always_fetch_index = false;  ///< also fetch the index when the version is unchanged
};

struct RegistryRead {
  enum class Kind { not_modified, unchanged, newer } kind = Kind::newer;
  std::string url;  ///< the mirror that answered
  std::string pointer_text;
  std::string etag;
  CheckedPointer checked;
  std::optional<Index> index;  ///< set for `newer` (and always with always_fetch_index)
  std::string index_text;
};

/// Tries each mirror until one yields a pointer that passes every check. When all fail, the error is
/// the first refusal (a mirror that served bad data) or, if every mirror was unreachable, the last
/// network error: a refusal says more than "unreachable".
Result<RegistryRead> read_registry(const ReadRequest& request, TimePoint now);

/// Fetches a blob from the first mirror that serves bytes matching the signed entry.
Result<std::string> fetch_blob(std::span<const std::string> urls, const IndexEntry& entry, FetchLimits limits);

/// Where a blob lives relative to a registry root.
inline std::string blob_path(std::string_view sha256) { return "blobs/sha256/" + std::string(sha256) + ".so"; }
/// The blob's detached signature (minisign format, as `hotpatch sign` writes): what a process that
/// pins the registry's key checks when an agent sends it the blob over its control socket.
inline std::string blob_signature_path(std::string_view sha256) { return blob_path(sha256) + ".minisig"; }
inline std::string index_path(std::string_view sha256) { return "index/" + std::string(sha256) + ".json"; }
inline constexpr std::string_view pointer_path = "index.minisig";

/// True for errors that mean "could not reach", as opposed to "reached and refused".
inline bool is_unreachable(const Error& e) { return e.code == ErrorCode::network; }

}  // namespace hotpatch::registry
