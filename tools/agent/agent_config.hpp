// What the host agent does, from /etc/hotpatch/agent.conf and the command line. The file decides
// which code every process on the host accepts, so it is held to the rule key files are held to:
// owned by root or the agent's user, writable by nobody else.
#pragma once

#include <hotpatch/error.hpp>

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace hotpatch::agent {

struct AgentConfig {
  std::vector<std::string> registries;   ///< registry roots (mirrors), tried in order
  std::string registry_name;             ///< the name the registry signs into its index
  std::vector<std::string> pubkeys;      ///< minisign public key files (or base64 key lines)
  std::string host_id;                   ///< empty: /etc/machine-id
  std::string state_dir = "/var/lib/hotpatch/agent";
  std::chrono::seconds interval{300};    ///< between registry polls (with ±10 % jitter)
  std::chrono::seconds scan_interval{5}; ///< between looks at /proc for new processes
  std::vector<std::string> users;        ///< user names or uids whose processes are patched; empty: all
  std::vector<std::string> programs;     ///< executables (as /proc/P/exe names them) patched; empty: all
  std::chrono::seconds health_seconds{60};   ///< how long a patched process is watched
  std::chrono::seconds health_interval{5};   ///< how often the health command runs in the window
  std::string health_command;            ///< run with /bin/sh -c; exit 0 is healthy
  std::chrono::seconds health_timeout{10};
  std::string runtime;                   ///< libhotpatch.so to attach with; empty: the installed one
  std::chrono::milliseconds attach_wait{5000};
};

/// Reads `path` (key = value lines, # comments) into `config`. Unknown keys, bad values and a file
/// others could have written are errors naming the file and line.
Status read_config_file(const std::string& path, AgentConfig& config);

/// What the agent cannot run without, and values out of range.
Status check_config(const AgentConfig& config);

/// The uids `config.users` names (empty when it names none: every user).
Result<std::vector<uid_t>> configured_uids(const AgentConfig& config);

}  // namespace hotpatch::agent
