// The patch registry client: polls a signed registry (static files over http://, https:// or
// file://), verifies it against keys pinned in its configuration, caches it, and applies the patches
// meant for the modules loaded in this process. Usable from C++20; never throws, never prints.
//
// Trust comes only from RegistryConfig: the registry name and the minisign public keys. A registry
// is refused, with nothing applied, on a bad signature, an unknown key, another registry's name, an
// index older than one already seen (rollback) or the same version with other content
// (equivocation), an expired index (freeze), a blob whose hash or size differs from the signed
// index, an oversize response, or malformed or duplicate-key JSON.
#pragma once

#include <hotpatch/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#pragma GCC visibility push(default)

namespace hotpatch {

struct RegistryConfig {
  /// Registry roots (mirrors), tried in order: "https://host/path", "file:///srv/registry".
  std::vector<std::string> urls;
  /// The name the registry signs into every index; another name is refused.
  std::string registry_name;
  /// minisign public keys, as the base64 line `minisign -P` takes or as a whole .pub file.
  std::vector<std::string> trusted_keys;
  /// Private cache directory (created 0700; refused when another user owns it). Only regular files
  /// this user owns and nobody else can write are read from it; anything else is removed.
  std::string cache_dir;
  /// apply_available() refreshes first when the last successful check is older than this.
  std::chrono::seconds ttl{3600};
  std::size_t max_pointer_bytes = 4 * 1024;
  std::size_t max_index_bytes = 4 * 1024 * 1024;
  std::size_t max_blob_bytes = 64 * 1024 * 1024;
  std::chrono::milliseconds connect_timeout{10'000};
  /// Whole-transfer limit for one file.
  std::chrono::milliseconds total_timeout{60'000};
  /// A transfer slower than low_speed_bytes per second for low_speed_time is abandoned.
  long low_speed_bytes = 1024;
  std::chrono::seconds low_speed_time{10};
  /// Who this host is for staged rollouts (an entry published to a share of hosts). Empty:
  /// /etc/machine-id (the runtime's poller takes HOTPATCH_HOST_ID). Without one, staged entries
  /// are not taken.
  std::string host_id;
};

/// One patch the verified index offers.
struct AvailablePatch {
  std::string id;
  std::uint32_t version = 0;
  std::string about;
  std::string target_build_id;
  std::string target_module;
  std::vector<std::string> replaces;
  std::string blob_sha256;
  std::uint64_t blob_size = 0;
  /// The share of hosts the publisher gives it, 1 to 100.
  std::uint32_t rollout_percent = 100;
};

/// One patch object whose bytes matched the size and SHA-256 the signed index gives for it. The
/// bytes are held in memory: they are the exact bytes that were hashed, so a cache file changed
/// after the check cannot change what is applied.
struct VerifiedPatch {
  /// The id and version the signed index entry gives; the patch's own manifest must declare the same.
  std::string id;
  std::uint32_t version = 0;
  std::string blob_sha256;
  /// Stands for the patch in messages and in the engine's list of applied patches.
  std::string name;
  /// Valid only for the duration of the apply call.
  std::span<const std::uint8_t> bytes;
};

/// How the client sees and changes the process. The default (engine_applier) is the hotpatch
/// engine; tests and tools pass their own.
struct PatchApplier {
  /// GNU build-ids (lower-case hex) of the modules loaded now.
  std::function<std::vector<std::string>()> loaded_build_ids;
  /// Highest applied version of a patch id, 0 when none is applied.
  std::function<std::uint32_t(std::string_view patch_id)> applied_version;
  /// Applies one verified patch as one transaction; must refuse a patch whose manifest declares
  /// another id or version than the index entry.
  std::function<Status(const VerifiedPatch& patch)> apply;
};

/// The hotpatch engine: loaded_modules(), applied_patches() and apply_patch_image() with the index
/// entry's id and version required of the patch. Defined in libhotpatch only.
PatchApplier engine_applier();

using RegistryClock = std::function<std::chrono::system_clock::time_point()>;

struct UpdateReport {
  /// A newer index was verified and stored.
  bool changed = false;
  std::uint64_t index_version = 0;
  std::chrono::system_clock::time_point expires;
  /// The mirror that answered; empty when none did.
  std::string source;
  /// Set when no mirror could be reached: the client goes on with its verified cache.
  std::optional<Error> unreachable;
};

struct PatchFailure {
  AvailablePatch patch;
  Error error;
};

struct ApplyReport {
  /// Set when the cache was older than the TTL and a refresh ran first.
  std::optional<UpdateReport> refresh;
  std::vector<AvailablePatch> applied;
  /// Patches the engine refused; the others were still applied, each in its own transaction.
  std::vector<PatchFailure> failed;
  /// Newer patches for a loaded module, staged to a share of hosts this host is not in (or this
  /// host has no id): not applied, and looked at again at every poll.
  std::vector<PatchFailure> held_back;
};

class RegistryClient {
 public:
  /// Checks the configuration and opens the cache (re-verifying what it holds). An empty clock
  /// means the system clock.
  static Result<RegistryClient> create(RegistryConfig config, PatchApplier applier = engine_applier(),
                                       RegistryClock clock = {});

  RegistryClient(RegistryClient&&) noexcept;
  RegistryClient& operator=(RegistryClient&&) noexcept;
  ~RegistryClient();

  /// Polls the registry and stores a newer verified index. When no mirror answers and a verified
  /// index is cached, succeeds with `unreachable` set; a refusal is an error and changes nothing.
  Result<UpdateReport> update();

  /// Refreshes when the cache is older than the TTL, then fetches, verifies and applies every
  /// patch whose build-id matches a loaded module and whose version is newer than the applied one.
  /// All blobs are verified before the first is applied, so a bad blob means nothing is applied.
  Result<ApplyReport> apply_available();

  /// Patches in the verified cached index (empty before the first successful update).
  std::vector<AvailablePatch> available() const;

  /// Version of the cached index, 0 when there is none.
  std::uint64_t index_version() const;

  /// When a mirror last answered with a pointer that passed every check.
  std::optional<std::chrono::system_clock::time_point> last_checked() const;

  /// What the client found wrong in its cache and repaired since the last call, oldest first:
  /// entries it refused and removed (symbolic links, FIFOs and other non-regular files, files of
  /// another user or writable by others) and a directory it made private. It went on without them.
  std::vector<Error> take_cache_warnings();

 private:
  struct Impl;
  explicit RegistryClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hotpatch

#pragma GCC visibility pop
