// The signed index (index/<sha256>.json) and the trusted comment of its signature (index.minisig),
// which is the cheap "what is current" pointer a poll reads.
#pragma once

#include "registry/timestamp.hpp"

#include <hotpatch/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hotpatch::registry {

struct IndexEntry {
  std::string id;
  std::uint32_t patch_version = 0;
  std::string about;
  std::string target_build_id;  ///< lower-case hex
  std::string target_module;
  std::vector<std::string> replaces;  ///< target symbols
  std::string blob_sha256;
  std::uint64_t blob_size = 0;
  /// Staged rollout: the share of hosts that take this entry, 1 to 100 (see rollout.hpp).
  std::uint32_t rollout_percent = 100;
};

struct Index {
  /// Indexes without a staged entry are written as schema 1, which every client reads. An index
  /// with one is schema 2: a client that does not know rollout shares would take a staged entry on
  /// every host, so it must refuse the whole index instead (and does: it reads schema 1 only).
  static constexpr int schema = 1;
  static constexpr int staged_schema = 2;
  std::string registry;
  std::uint64_t version = 0;
  TimePoint published;
  TimePoint expires;
  std::vector<IndexEntry> patches;
};

/// Strict: rejects duplicate keys at any depth, wrong types, bad hex, repeated patch ids.
Result<Index> parse_index(std::string_view json_text);
std::string serialize_index(const Index& index);

/// What the trusted comment of index.minisig says:
///   hotpatch-index registry:<name> version:<n> sha256:<hex> expires:<time>
struct IndexPointer {
  std::string registry;
  std::uint64_t version = 0;
  std::string index_sha256;
  TimePoint expires;
};

Result<IndexPointer> parse_pointer_comment(std::string_view comment);
std::string format_pointer_comment(const IndexPointer& pointer);

/// Registry names and patch ids: letters, digits, '.', '_' and '-' (they appear in comments and paths).
bool is_plain_name(std::string_view name);

}  // namespace hotpatch::registry
