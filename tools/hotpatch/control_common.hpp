// What the subcommands that talk to running processes share: choosing the processes (--pid or
// --all), calling each one, and printing tables.
#pragma once

#include "control/client.hpp"
#include "control/protocol.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace hotpatch::cli {

struct TargetOptions {
  pid_t pid = 0;
  bool all = false;
  /// Root only: --all also covers endpoints in other users' socket directories.
  bool all_users = false;
  double timeout_seconds = -1;  ///< --timeout; negative: the command's default below
  double default_timeout = 10;
  double default_all_timeout = 10;  ///< with --all (short for read-only commands: one silent process costs this)
  bool json = false;
  /// --pid, --all and --all-users (unless `allow_all` is false), --timeout, --json.
  void add_to(CLI::App& cmd, bool allow_all, bool json);
  control::CallOptions call_options() const;
  /// For the hello asked before acting on --all: --timeout when given, else one second.
  control::CallOptions hello_options() const;
};

using Target = control::Endpoint;

/// The processes a command acts on. For --all, stale sockets found on the way are removed and
/// reported on stderr, as are directories and files passed over as unsafe. `every_user` (root
/// only) takes endpoints in other users' directories too.
Result<std::vector<Target>> choose_targets(const TargetOptions& options, bool every_user);

/// One row per line, columns padded to the widest cell.
void print_table(const std::vector<std::vector<std::string>>& rows);

/// Runs `request` on every target. `on_ok` prints a human line for one answer. With --json the
/// answers go out as one JSON document (an object for --pid, an array for --all). `verdict`, when
/// given, turns an ok answer into an exit code (an answer can report parts it refused), in both
/// modes. Every answer is checked against the shape of its request first; a malformed one is an
/// error for that process and the others go on. Read-only requests go to all processes at once.
/// With --all and a non-empty `only_build_id`, each process is asked hello first and a process
/// that has not loaded that build is listed as "not a target" and left alone.
/// Returns the exit code: ok when every process answered ok, else the code of the first failure.
int run_on_targets(const TargetOptions& options, const control::Request& request, int pass_fd,
                   const std::function<void(const Target&, const nlohmann::ordered_json&)>& on_ok,
                   const std::function<int(const nlohmann::ordered_json&)>& verdict = {},
                   const std::string& only_build_id = {},
                   const std::function<bool(const Error&)>& nothing_to_do = {});

/// A JSON value as text for a table cell ("-" for empty strings and nulls), safe for a terminal.
std::string cell(const nlohmann::ordered_json& value);

/// Member `key` of an answer object, or null when it is absent or the answer is not an object.
const nlohmann::ordered_json& field(const nlohmann::ordered_json& object, const char* key);

/// Member `key` as an array to iterate over: empty unless it is an array.
const nlohmann::ordered_json& items(const nlohmann::ordered_json& object, const char* key);

/// The error of a process's failed call or answer, its subject prefixed with "process PID".
Error process_error(pid_t pid, Error error);

}  // namespace hotpatch::cli
