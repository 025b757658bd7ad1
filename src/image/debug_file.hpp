// The separate debug file of a stripped module: distribution packages strip their programs and ship
// the symbol tables in debug packages (Debian's *-dbgsym), found by build-id under
// /usr/lib/debug/.build-id/ or by the name in the module's .gnu_debuglink section.
#pragma once

#include "image/elf_file.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hotpatch::image {

struct DebugFileSearch {
  std::optional<ElfFile> file;  ///< the debug file found, with a .symtab and the module's build-id
  std::string path;             ///< where it was found
  std::vector<std::string> refused;  ///< candidates that exist but were not taken, each with why
};

/// Looks for the debug file of `module` (the file at `module_path`, whose build-id is `build_id`)
/// in each debug directory (HOTPATCH_DEBUG_DIRECTORY, a ':'-separated list; default
/// /usr/lib/debug): by build-id first, then by the module's .gnu_debuglink name next to the module,
/// in its .debug/ subdirectory, and under the debug directory. A candidate is taken only when its
/// build-id is the module's (a debug file of another build would give wrong addresses) and it is a
/// regular file owned by root or this user and writable by nobody else.
DebugFileSearch find_debug_file(const ElfFile& module, const std::string& module_path, const std::string& build_id);

}  // namespace hotpatch::image
