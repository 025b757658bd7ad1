// Which loaded module's segment holds an address, read from the loader's list with
// dl_iterate_phdr, which takes only the lock guarding that list (not the loader's own lock, as
// dladdr does): usable while module unloads are held (loader_hooks.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace hotpatch::os {

struct LoadedSegment {
  std::uintptr_t lo = 0;
  std::uintptr_t hi = 0;
  bool executable = false;
  std::string path;  ///< the module's file (/proc/self/exe resolved for the main program)
};

/// The main program's file, /proc/self/exe resolved (read once per process).
const std::string& executable_path();

/// The PT_LOAD segment holding `address`, if any module has one.
std::optional<LoadedSegment> segment_containing(std::uintptr_t address);

/// The main program's first readable, executable segment.
std::optional<LoadedSegment> main_program_code();

}  // namespace hotpatch::os
