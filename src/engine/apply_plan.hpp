// What an apply will do, decided from the patch's manifest, the target module and the patch table
// before anything is loaded or written: for each replaced function how it is redirected, and where
// each import points.
#pragma once

#include "arch/x86_64/entry_pad.hpp"
#include "arch/x86_64/instruction_scan.hpp"
#include "engine/patch_object.hpp"
#include "engine/patch_table.hpp"

#include <hotpatch/module.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hotpatch::engine {

enum class Redirect {
  new_jump,     ///< first patch of this function: build a redirect and write its entry jump
  reuse_jump,   ///< patched before and reverted: its redirect is kept; point the slot, write the jump
  switch_slot,  ///< a version is active: switch its slot to the new version
  vtable,       ///< no entry jump possible (or chosen before): switch the vtable slots
};

struct TargetPlan {
  std::string symbol;
  std::uintptr_t address = 0;
  std::size_t size = 0;
  Redirect redirect = Redirect::new_jump;
  arch::EntryPlan entry;
  std::optional<arch::PadPlan> pad;  ///< new_jump through a compiler-placed pad
  std::vector<std::uintptr_t> vtable_slots;
  std::uintptr_t replacement = 0;  ///< known once the patch is loaded
};

struct ImportPlan {
  std::string variable;       ///< the patch's pointer variable
  std::string target_symbol;  ///< what it points to in the target
  std::uintptr_t address = 0;
};

struct ApplyPlan {
  LoadedModule module;
  std::vector<TargetPlan> targets;
  std::vector<ImportPlan> imports;
  /// Table entries recorded for a module since unloaded, with no version applied, at addresses
  /// this plan now uses for code mapped there since: dropped before the apply goes on.
  std::vector<std::uintptr_t> stale_entries;
};

/// Resolves and checks every target and import of `manifest` in `module`. `who` names the patch
/// in messages. Reads the module's code and vtables: the caller holds the module-unload guard.
Result<ApplyPlan> plan_apply(const LoadedModule& module, const PatchManifest& manifest, const PatchTable& table,
                             const std::string& who);

}  // namespace hotpatch::engine
