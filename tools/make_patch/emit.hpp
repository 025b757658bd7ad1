// Writing the patch a plan describes: a shared object with the usual records (id, version, target
// build-id) and each fixed unit's relocatable object inside it, with the sections to load and the
// functions they replace. The runtime links those objects together next to the target module, so
// the fixed code reaches the program's statics exactly as the compiler wrote it to.
#pragma once

#include "make_patch/relocatable_object.hpp"

#include <hotpatch/error.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace hotpatch::make_patch {

struct PatchIdentity {
  std::string id;
  std::uint32_t version = 0;
  std::string about;
};

/// One unit's part of a patch: its fixed object and what of it the patch carries.
struct CarriedUnit {
  std::string name;                       ///< source file relative to the tree
  const Object* object = nullptr;         ///< compiled from the fixed copy
  std::set<std::string> functions;        ///< changed and new functions, by symbol
  std::set<std::string> variables;        ///< new variables
  std::vector<std::pair<std::string, std::string>> replaces;  ///< target symbol -> function of the object
};

/// The sections of `unit.object` the patch must load: the carried functions' and variables' (and
/// their cold parts), and every section of constants their code reaches that names nothing of the
/// program's (string literals, jump tables). What does name a program symbol stays the program's.
/// Unwinding through the carried functions needs their LSDAs (.gcc_except_table.*) and the
/// personality reference their CIEs hold (a DW.ref.* cell): those come along too. The .eh_frame
/// records are not named: the runtime always takes those of the code it loads from the object.
Result<std::vector<std::string>> sections_to_load(const CarriedUnit& unit);

/// Writes the patch of `units` to `output`, compiling a small generated source with `compiler` (a C
/// compiler).
Status emit_patch(const std::vector<CarriedUnit>& units, const PatchIdentity& identity, const std::string& build_id,
                  const std::string& target_name, const std::string& compiler, const std::string& scratch,
                  const std::string& output);

}  // namespace hotpatch::make_patch
