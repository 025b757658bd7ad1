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
  double timeout_seconds = 10;
  bool json = false;
  /// --pid, --all (unless `allow_all` is false), --timeout, --json.
  void add_to(CLI::App& cmd, bool allow_all, bool json);
  control::CallOptions call_options() const;
};

struct Target {
  pid_t pid = 0;
  std::string socket;
};

/// The processes a command acts on. For --all, stale sockets found on the way are removed and
/// reported on stderr.
Result<std::vector<Target>> choose_targets(const TargetOptions& options);

/// One row per line, columns padded to the widest cell.
void print_table(const std::vector<std::vector<std::string>>& rows);

/// Runs `request` on every target. `on_ok` prints a human line for one answer. With --json the
/// answers go out as one JSON document (an object for --pid, an array for --all). `verdict`, when
/// given, turns an ok answer into an exit code (an answer can report parts it refused), in both
/// modes. Returns the exit code: ok when every process answered ok, else the code of the first failure.
int run_on_targets(const TargetOptions& options, const control::Request& request, int pass_fd,
                   const std::function<void(const Target&, const nlohmann::ordered_json&)>& on_ok,
                   const std::function<int(const nlohmann::ordered_json&)>& verdict = {});

/// A JSON value as text for a table cell ("-" for empty strings and nulls).
std::string cell(const nlohmann::ordered_json& value);

}  // namespace hotpatch::cli
