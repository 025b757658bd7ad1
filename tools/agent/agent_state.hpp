// What the agent remembers across passes and restarts, in <state_dir>/state/state.json (written
// whole and renamed into place): the processes it patched and whether their health window passed,
// the patch versions it took back and why (never applied again on this host), and when this host
// first took each staged entry.
#pragma once

#include "registry/cache_dir.hpp"

#include <hotpatch/error.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace hotpatch::agent {

struct PatchedProcess {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
  std::string program;
  std::string id;
  std::uint32_t version = 0;
  std::int64_t applied_at = 0;     ///< unix seconds
  std::int64_t watch_until = 0;    ///< unix seconds; the health window ends here
  std::int64_t next_check = 0;     ///< unix seconds; the next health command run
  bool healthy = false;            ///< the window passed
  bool attached = false;           ///< the agent attached the runtime to it
};

struct TakenBack {
  std::string id;
  std::uint32_t version = 0;
  pid_t pid = 0;
  std::string program;
  std::string reason;
  std::int64_t at = 0;
};

struct AgentState {
  std::string host_id;
  std::string registry;
  std::uint64_t index_version = 0;
  std::int64_t last_pass = 0;
  std::vector<PatchedProcess> patched;
  std::vector<TakenBack> taken_back;
  std::map<std::string, std::int64_t> first_taken;  ///< "id@version" -> when this host first took it

  const TakenBack* taken_back_for(const std::string& id, std::uint32_t version) const;
};

/// The state directory: <dir>/state (state.json) and <dir>/registry (the registry cache), made 0700
/// and refused when another user owns it or others may write it.
class StateStore {
 public:
  static Result<StateStore> open(const std::string& dir);
  /// For --status: reads without creating anything.
  static Result<AgentState> read_only(const std::string& dir);

  Result<AgentState> load();
  Status save(const AgentState& state) const;
  std::string registry_cache() const { return dir_ + "/registry"; }

 private:
  StateStore(std::string dir, registry::CacheDir files) : dir_(std::move(dir)), files_(std::move(files)) {}
  std::string dir_;
  registry::CacheDir files_;
};

std::string state_to_json(const AgentState& state, int indent = 2);
Result<AgentState> state_from_json(const std::string& text, const std::string& where);

/// UTC, as the registry writes times: 2026-11-27T08:00:00Z.
std::string utc(std::int64_t unix_seconds);

}  // namespace hotpatch::agent
