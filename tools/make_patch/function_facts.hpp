// What a function of a relocatable object refers to and whether it ever returns: the imports a
// patch needs, and the functions a patch can only reach on their next call.
#pragma once

#include "make_patch/relocatable_object.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hotpatch::make_patch {

struct Reference {
  std::string name;
  bool function = false;  ///< false: data (or unknown, for an undefined symbol referenced as data)
  bool defined_in_unit = false;
  bool local = false;     ///< a `static` of the unit
};

/// The named symbols the function `name` refers to through its relocations, other than itself,
/// each once: undefined ones (defined elsewhere in the program or in a library) and the unit's
/// own functions and variables. Places without a name (string literals, constant pools, jump
/// tables) are left out: they go with the function.
std::vector<Reference> references_of(const Object& object, const std::string& name);

/// Whether the function `name` can never return: it has no `ret` and no jump out of itself (a tail
/// call), and it loops. A function that only ends in a call to exit() or abort() is not counted:
/// it finishes, and so the patch reaches it on the next call anyway.
bool never_returns(const Object& object, const std::string& name);

/// The defined function symbol `name` of the object, if any.
const Symbol* function_symbol(const Object& object, const std::string& name);

}  // namespace hotpatch::make_patch
