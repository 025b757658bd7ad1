// The host agent: polls a signed registry and applies each patch to every process on the host that
// has loaded the patch's target build, attaching the runtime where a process was started without
// it; watches each patched process for a health window and takes a patch version back by itself
// (reverted everywhere on the host, never applied here again) when a process dies or its health
// command fails. A process whose own runtime polls one of the agent's registries is left to it: a
// process has one owner, so a version the agent took back is not re-applied behind its back.
#pragma once

#include "agent/agent_config.hpp"

#include <hotpatch/error.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace hotpatch::agent {

using Log = std::function<void(const std::string& line)>;

struct PassOutcome {
  bool registry_failed = false;  ///< refused, or unreachable with nothing cached
  int applied = 0;
  int failed = 0;                ///< applies or attaches that failed (retried at the next pass)
  int taken_back = 0;
};

class Agent {
 public:
  /// Checks the configuration, takes the state directory (one agent per directory at a time) and
  /// opens the registry cache. Nothing is fetched or touched yet.
  static Result<std::unique_ptr<Agent>> create(AgentConfig config, Log log);
  ~Agent();

  /// One pass: poll the registry when `poll`, then patch every matching process.
  PassOutcome pass(bool poll);
  /// Health checks that are due; returns how many patch versions were taken back.
  int check_health();
  /// Whether a patched process is still in its health window.
  bool watching() const;

  /// --once: a pass, then the health windows it opened, to their end.
  int run_once(const std::atomic<bool>& stop);
  /// The service: polls every interval (with jitter), looks for new processes every scan
  /// interval, checks health every second, until `stop`.
  int run(const std::atomic<bool>& stop);

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hotpatch::agent
