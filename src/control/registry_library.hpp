// Loads the registry library (libhotpatch-registry) of this runtime's own build, once per process.
#pragma once

#include "control/registry_link.hpp"

#include <hotpatch/error.hpp>

namespace hotpatch::control {

/// The registry library's link table. The library is taken only from the directory this runtime
/// was loaded from, only under this build's version (libhotpatch-registry.so.<version>), only when
/// it is a regular file that neither another user nor the group can write, and only when its table
/// says the same version; anything else is an error saying what was found. Loaded on first use and
/// kept for the life of the process.
Result<const RegistryLink*> registry_link();

}  // namespace hotpatch::control
