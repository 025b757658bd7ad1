// Whether a patched process is still well: it is alive and the same process (pid and start time),
// and the operator's health command, when there is one, exits 0 in time.
#pragma once

#include "agent/agent_state.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace hotpatch::agent {

/// Why `p` is not the process that was patched any more, or nullopt when it still is.
std::optional<std::string> process_problem(const PatchedProcess& p);

/// Runs `command` with /bin/sh -c, HOTPATCH_PID, HOTPATCH_PATCH_ID and HOTPATCH_PATCH_VERSION set,
/// stdin from /dev/null, its output to the agent's stderr. Why it failed, or nullopt on exit 0. A
/// command still running at `timeout` is killed (its process group) and counts as failed.
std::optional<std::string> run_health_command(const std::string& command, const PatchedProcess& p,
                                              std::chrono::seconds timeout);

}  // namespace hotpatch::agent
