// Modules loaded in this process (dl_iterate_phdr), with the build-id read from memory.
#pragma once

#include <hotpatch/module.hpp>

#include <optional>
#include <string>
#include <vector>

namespace hotpatch::image {

/// Every loaded module; `path` is the file to read symbols from (/proc/self/exe for the executable).
std::vector<LoadedModule> list_modules();

/// The loaded module with this build-id, if any.
std::optional<LoadedModule> find_module_by_build_id(const std::string& build_id);

/// The loader's load and unload counters (dl_iterate_phdr's dlpi_adds, dlpi_subs): equal values mean
/// no module was loaded or unloaded in between.
struct ModuleGeneration {
  unsigned long long adds = 0;
  unsigned long long subs = 0;
  bool operator==(const ModuleGeneration&) const = default;
};
ModuleGeneration module_generation();

/// The module list, walked again only when the loader's counters moved since the last look (a
/// walk reads every module's build-id note). One owner, no lock: the engine, under its own.
class ModuleSnapshot {
 public:
  const std::vector<LoadedModule>& current();
  std::optional<LoadedModule> by_build_id(const std::string& build_id);

 private:
  bool valid_ = false;
  ModuleGeneration generation_;
  std::vector<LoadedModule> modules_;
};

/// The loaded module whose mapped segments contain `address`, if any.
std::optional<LoadedModule> find_module_containing(std::uintptr_t address);

}  // namespace hotpatch::image
