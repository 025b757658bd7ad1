// What is patched: per function, the stack of applied versions over the original; per patch, the
// functions it provides. The engine's single source of truth, guarded by the engine's mutex.
#pragma once

#include "engine/entry_redirect.hpp"

#include <hotpatch/runtime.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hotpatch::engine {

struct AppliedRecord;

struct Layer {
  const AppliedRecord* patch = nullptr;
  std::uintptr_t replacement = 0;
  std::chrono::system_clock::time_point since;
};

struct FunctionEntry {
  std::string symbol;
  std::string module;
  std::string build_id;            ///< of the module the function was found in
  std::uintptr_t module_base = 0;  ///< where that module was loaded
  bool unloaded = false;           ///< that module is gone: nothing may be written for this function
  std::string follow_error;        ///< why the patch could not follow the module when it was loaded again
  std::uintptr_t address = 0;
  RedirectMethod method = RedirectMethod::entry_jump;
  std::unique_ptr<EntryRedirect> redirect;  ///< entry_jump: kept after a full revert, for reuse
  bool jump_live = false;                   ///< entry_jump: the jump is written now
  std::vector<std::uintptr_t> vtable_slots; ///< vtable_slot: where the function pointer lives
  std::vector<Layer> layers;                ///< bottom (oldest) to top (active)

  std::uintptr_t active_target() const { return layers.empty() ? address : layers.back().replacement; }
};

/// Where the patch keeps the address of something of its target's, and what it names there.
struct ImportSlot {
  void** slot = nullptr;
  std::string symbol;
};

struct AppliedRecord {
  AppliedPatch info;
  void* handle = nullptr;
  std::vector<ImportSlot> imports;  ///< bound again when the target module is loaded again
  std::vector<std::uintptr_t> functions;
  /// Its code was linked next to the target module where it was (a patch made from a diff): it
  /// cannot follow the module to another address.
  bool linked_to_module = false;
};

class PatchTable {
 public:
  FunctionEntry* find(std::uintptr_t address);
  const FunctionEntry* find(std::uintptr_t address) const;
  FunctionEntry& insert(FunctionEntry entry);
  void erase(std::uintptr_t address);
  /// Moves an entry to the address its function has now (its module was loaded again elsewhere),
  /// in the table and in every patch that lists it.
  FunctionEntry& rekey(std::uintptr_t from, std::uintptr_t to);
  bool has_patches() const { return !applied_.empty(); }
  template <class F>
  void for_each(F&& f) {
    for (auto& [address, entry] : functions_) f(entry);
  }

  const AppliedRecord* newest_with_id(const std::string& id) const;
  bool has(const std::string& id, std::uint32_t version) const;
  const AppliedRecord& add_patch(AppliedRecord record);
  void remove_patch(const AppliedRecord* record);

  std::vector<PatchedFunction> rows() const;
  std::vector<AppliedPatch> patches() const;

 private:
  std::map<std::uintptr_t, FunctionEntry> functions_;
  std::vector<std::unique_ptr<AppliedRecord>> applied_;  // oldest first; stable addresses
};

}  // namespace hotpatch::engine
