// compile_commands.json as CMake and bear record it, and each recorded command rewritten to
// compile a scratch copy of the tree into a scratch directory.
#pragma once

#include <hotpatch/error.hpp>

#include <string>
#include <vector>

namespace hotpatch::make_patch {

struct CompileCommand {
  std::string directory;  ///< absolute, normal
  std::string file;       ///< absolute, normal (relative ones resolved against directory)
  std::vector<std::string> arguments;  ///< argv, from "arguments" or split from "command"
};

/// Reads the file. Each entry needs "directory", "file" and "command" or "arguments"; an error names
/// the entry that has not.
Result<std::vector<CompileCommand>> read_compile_commands(const std::string& path);

/// A shell command line split into words as sh would (quotes, backslashes; no expansion).
Result<std::vector<std::string>> split_command_line(const std::string& line);

/// Where one side's copy of the tree is and where its outputs go.
struct ScratchLayout {
  std::string source;  ///< the user's tree (absolute, normal)
  std::string copy;    ///< the scratch copy standing in for it
};

/// A recorded command redirected to a scratch copy: run `argv` plus `-c -o X` or `-E -o X` in `cwd`.
struct UnitCommand {
  std::string cwd;
  std::vector<std::string> argv;  ///< without the mode (-c/-E/-S) or any output, dependency or temp file
  std::string file;               ///< the unit's source as the command names it after rewriting
  bool lto = false;               ///< compiled with -flto: its objects hold no machine code
};

/// Rewrites `command` for `layout`: every path under the source tree (absolute, or relative to the
/// command's directory) names the copy; relative paths out of the tree name their original place;
/// outputs are taken off (the caller adds its own); dependency files and -save-temps are dropped,
/// so nothing is written into the user's build directory even when it lies outside the tree.
/// The copy's paths are mapped back to the tree's in __FILE__ and debug information
/// (-ffile-prefix-map), so the code compiled from the copy is the code compiled from the tree.
UnitCommand rewrite_command(const CompileCommand& command, const ScratchLayout& layout,
                            const std::vector<std::string>& extra_flags);

/// What make-patch adds to every recorded command: a section per function and variable (what the
/// comparison works on) and debug information. Position-independence is deliberately not forced:
/// -fPIC on units of an executable turns off inlining of global functions and reaches data through
/// the GOT, so the recompiled code would no longer be the running code.
const std::vector<std::string>& analysis_flags();

}  // namespace hotpatch::make_patch
