// Which translation units a diff changes: the units it touches, and every unit whose preprocessed
// input differs between the original and the patched copy (which is how a header change is found).
#pragma once

#include "make_patch/compile_commands.hpp"

#include <hotpatch/error.hpp>

#include <string>
#include <vector>

namespace hotpatch::make_patch {

/// One recorded command, rewritten for both copies of the tree.
struct Unit {
  std::size_t index = 0;  ///< in compile_commands.json, for naming scratch files
  CompileCommand recorded;
  UnitCommand original;
  UnitCommand patched;
  std::string name;  ///< the unit's file relative to the source tree (its absolute path when outside)
};

struct UnitSelection {
  std::vector<Unit> chosen;
  std::vector<std::string> why;      ///< for each chosen unit: "touched by the diff" or the header it includes
  std::vector<std::string> skipped;  ///< touched files no unit compiles or includes, relative to the tree
};

/// Preprocesses the units (into `work`) to choose those the diff changes. `touched` holds the files
/// the diffs touch, relative to the tree.
Result<UnitSelection> choose_units(const std::vector<Unit>& units, const std::vector<std::string>& touched,
                                   const ScratchLayout& original, const ScratchLayout& patched, const std::string& work);

}  // namespace hotpatch::make_patch
