// The modules (executable and shared objects) loaded in this process.
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace hotpatch {

/// A module (executable or shared object) loaded in this process.
struct LoadedModule {
  std::string path;       ///< file it was loaded from ("" resolved to /proc/self/exe for the executable)
  std::string name;       ///< file name alone
  std::uintptr_t base = 0;
  std::string build_id;   ///< lower-case hex, empty when the module has none
};

/// Every module loaded right now, main executable first.
HOTPATCH_API std::vector<LoadedModule> loaded_modules();

}  // namespace hotpatch
