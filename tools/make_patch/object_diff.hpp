// Function by function, what a source change did to one translation unit: the unit compiled before
// and after the change (-ffunction-sections -fdata-sections), compared after normalising what the
// compiler is free to move (the create-diff-object approach). A function counts as changed when
// its bytes or what its relocations point at differ, so a change to a `static inline` helper
// shows up in every caller it was inlined into.
#pragma once

#include <hotpatch/error.hpp>

#include <string>
#include <vector>

namespace hotpatch::make_patch {

enum class Change { changed, added, removed };

struct SymbolChange {
  std::string name;  ///< as in the object's symbol table
  bool local = false;  ///< a `static` one (told apart from same-named statics by the unit)
  Change change = Change::changed;
  std::string why;  ///< for a changed one: what differs first (bytes at an offset, a reference)
};

struct ObjectDiff {
  std::vector<SymbolChange> functions;
  std::vector<SymbolChange> variables;  ///< data the running process owns: changes here are refused later
  bool empty() const { return functions.empty() && variables.empty(); }
};

/// Compares two relocatable objects (ET_REL, x86-64) of the same unit. Errors name the file.
Result<ObjectDiff> diff_objects(const std::string& original, const std::string& patched);

}  // namespace hotpatch::make_patch
