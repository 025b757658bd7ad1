// The fixture program of tests/fixtures/make_patch/project built as a user would build it: a copy of
// the tree in a fresh temporary directory, compile_commands.json written for it, every unit compiled
// by its recorded command and linked into `prog`.
#pragma once

#include <string>
#include <vector>

namespace hotpatch::make_patch::testing {

struct ProjectOptions {
  bool out_of_tree = true;        ///< build directory beside the tree (CMake style), else in it (make style)
  bool arguments_form = false;    ///< "arguments" arrays instead of "command" strings
  std::string flags = "-O2";      ///< the recorded optimisation flags
  std::string apply_first;        ///< a diff applied to the tree before building (a target from other sources)
  bool shared_library = false;    ///< link libprog.so (without main) instead of the program
};

struct Project {
  Project() = default;
  Project(Project&& other) noexcept;
  Project& operator=(Project&&) = delete;
  ~Project();  ///< removes root

  std::string root;  ///< the temporary directory holding everything
  std::string src;
  std::string build;
  std::string commands;  ///< compile_commands.json
  std::string prog;  ///< the program, or the shared library
};

/// Builds the project; fails the current test (and returns what it has) when anything fails.
Project build_project(const ProjectOptions& options = {});

/// The fixture diff `name` (tests/fixtures/make_patch/<name>.diff).
std::string fixture_diff(const std::string& name);

/// Every file under `dir` with its size and modification time, to show nothing was written there.
std::vector<std::string> snapshot(const std::string& dir);

/// Runs a shell command; its output, and whether it exited 0.
bool shell(const std::string& command, std::string* output = nullptr);

}  // namespace hotpatch::make_patch::testing
