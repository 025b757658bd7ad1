// Shared pieces of the registry tests: temporary directories, files, shell commands, and a registry
// publisher with its key and a fake engine.
#pragma once

#include "registry/minisign.hpp"
#include "registry/publisher.hpp"

#include <hotpatch/registry.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace hotpatch::registry::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_text(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};
CommandResult run_command(const std::string& command);

/// 2026-01-01T00:00:00Z: tests use fixed times so expiry is exact.
TimePoint base_time();

inline constexpr const char* build_id_a = "6c50bb90aea0eb7a2a633afa6405563db0405c4e";
inline constexpr const char* build_id_b = "0123456789abcdef0123456789abcdef01234567";

/// A registry directory, its signing key and patch files to publish from it.
class TestRegistry {
 public:
  explicit TestRegistry(std::string name = "prod");
  const std::string& dir() const { return dir_; }
  std::string url() const { return "file://" + dir_; }
  const minisign::SecretKey& key() const { return key_; }
  std::string public_key_line() const { return minisign::public_key_line(key_.public_key()); }
  const std::string& name() const { return name_; }

  /// Writes a patch file with distinct content and publishes it; returns the new index version.
  std::uint64_t publish(const std::string& id, std::uint32_t version, const std::string& build_id,
                        TimePoint now = base_time(), std::chrono::seconds validity = std::chrono::hours(24 * 7));
  /// Sets a published patch's rollout share (1 to 100) in a new index; returns its version.
  std::uint64_t stage(const std::string& id, std::uint32_t percent, TimePoint now = base_time());
  std::string pointer_text() const;
  std::string path(const std::string& rel) const { return dir_ + "/" + rel; }

 private:
  TempDir root_;
  std::string dir_;
  std::string name_;
  minisign::SecretKey key_;
  int files_ = 0;
};

/// A stand-in for the engine: a set of loaded build-ids, and the patches "applied" so far.
struct FakeEngine {
  std::vector<std::string> build_ids{build_id_a};
  std::map<std::string, std::uint32_t> applied;  ///< id -> version
  std::vector<VerifiedPatch> received;  ///< every patch handed over, bytes copied into `received_bytes`
  std::vector<std::string> received_bytes;
  std::string fail_id;  ///< apply fails for this patch id, when set
  std::function<void(const VerifiedPatch&)> on_apply;  ///< runs first in every apply, when set

  /// The patch id and version are read back from the bytes the registry client hands over, and
  /// must be the ones its index entry gives, as the engine requires.
  PatchApplier applier();
};

/// A client config for `registry` with a cache in `cache`.
RegistryConfig client_config(const TestRegistry& registry, const TempDir& cache);

}  // namespace hotpatch::registry::test
