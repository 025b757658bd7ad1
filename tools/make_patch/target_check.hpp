// The recompiled original checked against the binary that runs: every function the diff changes
// must be there with the size the recompiled one has, or the build does not reproduce the running
// code and a patch made from it would be silently wrong.
#pragma once

#include "make_patch/object_diff.hpp"
#include "make_patch/plan.hpp"
#include "make_patch/relocatable_object.hpp"
#include "make_patch/target_symbols.hpp"

#include <string>
#include <vector>

namespace hotpatch::make_patch {

struct UnitChanges {
  std::string name;        ///< the unit's file, relative to the tree
  const Object* original = nullptr;
  const Object* patched = nullptr;
  ObjectDiff diff;
};

/// How many of the unit's functions the target has by name, and by name and size.
struct UnitPresence {
  std::size_t by_name = 0;
  std::size_t by_name_and_size = 0;
};
UnitPresence presence_in_target(const UnitChanges& unit, const TargetSymbols& target);

struct TargetCheck {
  std::vector<PlannedFunction> changed;
  std::vector<std::string> mismatches;  ///< "f: 23 bytes in the target, 31 recompiled"
  std::vector<std::string> ambiguous;
  std::vector<std::string> notes;
};

/// Checks the changed functions of a unit linked into the target.
TargetCheck check_against_target(const UnitChanges& unit, const TargetSymbols& target);

/// The target's static functions `name` that come from a unit whose file is named like `unit`.
std::vector<const TargetSymbol*> statics_of_unit(const TargetSymbols& target, const std::string& unit, const std::string& name);

/// A symbol for people: demangled, and a static one prefixed with its unit's file.
std::string display_name(const std::string& unit, const std::string& symbol, bool local);

}  // namespace hotpatch::make_patch
