// Running a rewritten compile command: preprocessed (to see what a diff changes in a unit) or
// compiled to an object (to compare it function by function).
#pragma once

#include "make_patch/compile_commands.hpp"

#include <hotpatch/error.hpp>

#include <string>
#include <vector>

namespace hotpatch::make_patch {

/// Compiles the unit to the object `output`. A failing compiler is an error naming the unit (`name`,
/// and which copy: `side`) and carrying the command and the compiler's output.
Status compile_unit(const UnitCommand& unit, const std::string& output, const std::string& name, const char* side);

/// Preprocesses the unit into `output`; errors as compile_unit's.
Status preprocess_unit(const UnitCommand& unit, const std::string& output, const std::string& name, const char* side);

/// A preprocessed unit: its text without line markers or blank lines (which move with every
/// inserted comment line) and the files it read, from the line markers.
struct Preprocessed {
  std::string text;
  std::vector<std::string> files;  ///< as the markers name them (normal absolute paths), each once
};
Result<Preprocessed> read_preprocessed(const std::string& path, const std::string& cwd);

}  // namespace hotpatch::make_patch
