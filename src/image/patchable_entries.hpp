// The NOP areas a compiler placed at function entries (-fpatchable-function-entry, or the
// patchable_function_entry attribute), as the module itself lists them: the section
// __patchable_function_entries holds one pointer per area, relocated by the loader like any data.
// The list is what makes a pad trustworthy: five NOPs before a symbol may as well be another
// function's alignment padding, which the short jump must never be aimed at.
#pragma once

#include <hotpatch/module.hpp>

#include <cstdint>

namespace hotpatch::image {

/// True when `module` lists `address` (a run-time address) as the start of a compiler-placed NOP
/// area. False when it does not, has no such section, or its file cannot be read or is not the
/// loaded build.
bool lists_patchable_entry(const LoadedModule& module, std::uintptr_t address);

}  // namespace hotpatch::image
