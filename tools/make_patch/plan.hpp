// make-patch's analysis: from a source tree, its recorded compile commands, the running binary and
// a fix's diff, what a patch for that binary must carry. Emitting the patch object is a later step.
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace hotpatch::make_patch {

struct MakePatchOptions {
  std::string source;
  std::string compile_commands;
  std::string target;
  std::vector<std::string> diffs;
  bool keep_scratch = false;  ///< leave the scratch directory for inspection (its path is in the plan)
  /// Where to write the patch; empty: analysis only.
  std::string output;
  std::string id;
  std::uint32_t version = 0;
  std::string about;
};

struct PlannedFunction {
  std::string unit;      ///< source file, relative to the tree
  std::string symbol;    ///< as in the symbol table (mangled for C++)
  std::string display;   ///< demangled; `file.c:name` for a static one
  bool local = false;
  std::string why;       ///< what differs first (changed ones)
  bool in_target = true; ///< false: inlined into every caller (or dropped by the linker): nothing to replace
  std::size_t same_named_statics = 0;  ///< static functions of this name in the target, all units
  bool never_returns = false;          ///< the running version loops forever: takes effect on its next call only
};

struct PlannedImport {
  std::string symbol;
  std::string display;
  bool function = false;
  bool local = false;    ///< a static of the unit: resolved by its file symbol
  bool in_program = true;  ///< false: defined by a shared library the target links
};

struct PlannedVariable {
  std::string unit;
  std::string symbol;
  std::string display;
  bool local = false;
};

struct Plan {
  std::string target;
  std::string build_id;
  bool shared_library = false;
  std::string symbols_from;  ///< the target, or its separate debug file
  std::string scratch;       ///< kept only with keep_scratch
  std::vector<std::string> units;  ///< recompiled, with why
  std::vector<PlannedFunction> changed;
  std::vector<PlannedFunction> added;
  std::vector<PlannedImport> imports;
  std::vector<PlannedVariable> new_variables;
  std::vector<std::string> skipped;  ///< files the diff touches that the build neither compiles nor includes
  std::vector<std::string> notes;
};

/// Runs the analysis (and, with an output, writes the patch). Refusals are errors whose message says what and why: a diff that does not
/// apply (patch's output), a build that does not reproduce the target, a change to data the running
/// process keeps, a static that cannot be told apart, nothing changed.
Result<Plan> make_plan(const MakePatchOptions& options);

/// The plan as text for people.
std::string plan_text(const Plan& plan);

}  // namespace hotpatch::make_patch
