// A relocatable object (ET_REL, x86-64) linked into the process near a module: the way a patch
// generated from a source diff carries its code. Its functions reach the module's `static`
// functions and variables with the same rip-relative instructions the compiler wrote for the
// module itself, which only works within ±2 GiB of them, so the code is placed there and its
// relocations are applied here, not by dlopen. Only the sections asked for are loaded; every other
// symbol the code uses is found through `lookup` (the module's own symbols, then other modules').
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hotpatch::engine {

/// Where a symbol an object uses but no object of the patch carries is in the process. `local` is
/// true for a `static` one of the object's unit, `unit` (look for it among that unit's statics).
using ObjectSymbolLookup =
    std::function<Result<std::uintptr_t>(const std::string& name, bool local, const std::string& unit)>;

/// One object of a patch: its bytes, the sections to load, the source file of its unit.
struct ObjectToLoad {
  std::span<const std::uint8_t> bytes;
  std::vector<std::string> sections;
  std::string unit;
};

/// What was done so that unwinding (C++ exceptions, pthread_cancel, backtraces through libgcc)
/// can pass through the loaded code: its frame records registered with libgcc.
struct UnwindRegistration {
  std::size_t functions = 0;  ///< FDEs registered, one per function (and per cold part)
  std::size_t left_out = 0;   ///< FDEs of loaded code left out: they need a section the patch does not carry
  bool no_unwinder = false;   ///< the objects have frame records, but the process has no __register_frame
};

class LoadedObject {
 public:
  /// A function or variable that object number `object` defines in a loaded section.
  std::optional<std::uintptr_t> symbol(std::size_t object, std::string_view name) const;
  std::optional<std::uintptr_t> symbol(std::string_view name) const { return symbol(0, name); }
  std::uintptr_t code_base() const { return code_base_; }
  std::size_t code_size() const { return code_size_; }
  const UnwindRegistration& unwind() const { return unwind_; }
  /// Deregisters the frame records and gives the memory back; only for an object no thread could
  /// have run.
  void unload() const;

 private:
  friend Result<LoadedObject> load_objects_near(const std::vector<ObjectToLoad>&, std::uintptr_t,
                                                const ObjectSymbolLookup&, const std::string&);
  std::vector<std::vector<std::pair<std::string, std::uintptr_t>>> symbols_;  // per object
  std::uintptr_t code_base_ = 0;
  std::size_t code_size_ = 0;
  std::size_t total_size_ = 0;
  UnwindRegistration unwind_;
  std::uintptr_t frames_ = 0;  // the registered table, 0 when none
  void (*deregister_frames_)(void*) = nullptr;
};

/// Loads the given sections of `objects` together within rel32 reach of `near`, as a linker would:
/// a global one object defines in a loaded section is what the others' references to that name
/// reach; every other symbol comes from `lookup`. Resolves and relocates, and makes the code
/// executable; registers the frame records (.eh_frame) of the loaded code with libgcc, which is
/// always looked for and never named among `sections`. Never unloaded: a thread may run it for as
/// long as the process lives. Refuses (naming the section, symbol or relocation) thread-local
/// data, relocation types position-dependent code uses, a global two objects define unless both
/// are weak, malformed frame records, and anything out of reach. `who` names the patch in messages.
Result<LoadedObject> load_objects_near(const std::vector<ObjectToLoad>& objects, std::uintptr_t near,
                                       const ObjectSymbolLookup& lookup, const std::string& who);

/// The same for a patch of one object.
Result<LoadedObject> load_object_near(std::span<const std::uint8_t> object, const std::vector<std::string>& sections,
                                      std::uintptr_t near, const ObjectSymbolLookup& lookup, const std::string& who);

}  // namespace hotpatch::engine
