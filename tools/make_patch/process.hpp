// Running the tools make-patch drives (patch, the recorded compilers) and keeping what they said.
#pragma once

#include <hotpatch/error.hpp>

#include <string>
#include <vector>

namespace hotpatch::make_patch {

struct ProcessResult {
  int exit_code = -1;   ///< -1 when killed by a signal
  std::string output;   ///< stdout and stderr together, in order
  bool ok() const { return exit_code == 0; }
};

/// Runs argv[0] (searched in PATH) with `argv` in `cwd` (empty: this process's), stdin from
/// /dev/null so that nothing waits for a terminal. An error only when it could not be run at all; a
/// non-zero exit is the caller's to judge.
Result<ProcessResult> run_process(const std::vector<std::string>& argv, const std::string& cwd = {});

/// argv as a shell would show it, for messages.
std::string shell_quote(const std::vector<std::string>& argv);

}  // namespace hotpatch::make_patch
