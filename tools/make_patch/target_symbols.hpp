// The functions of the binary that runs (--target), from its .symtab or, for a stripped binary,
// from its separate debug file: what the recompiled original must reproduce, and where a `static`
// function comes from (the STT_FILE symbol the linker keeps in front of each unit's locals).
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hotpatch::make_patch {

struct TargetSymbol {
  std::string name;
  std::uint64_t size = 0;
  bool function = false;
  bool local = false;
  std::string file;  ///< for a local: the name of the STT_FILE symbol before it (a unit's base name)
};

struct TargetSymbols {
  std::string path;          ///< the target
  std::string symbols_from;  ///< the file the symbols were read from (the target or its debug file)
  std::string build_id;
  bool shared_library = false;
  std::multimap<std::string, TargetSymbol> by_name;

  /// The globals (and weak ones) named `name`.
  std::vector<const TargetSymbol*> globals(const std::string& name) const;
  /// The locals named `name`, from any unit.
  std::vector<const TargetSymbol*> locals(const std::string& name) const;
};

/// Reads the target's symbols. A stripped target without a usable debug file is an error listing
/// each debug file that was considered and why it was refused.
Result<TargetSymbols> read_target_symbols(const std::string& target);

}  // namespace hotpatch::make_patch
