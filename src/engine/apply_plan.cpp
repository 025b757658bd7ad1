#include "engine/apply_plan.hpp"

#include "engine/entry_redirect.hpp"
#include "engine/vtable_slots.hpp"
#include "image/symbol_index.hpp"
#include "os/linux/task_status.hpp"
#include "support/log.hpp"

#include <set>

namespace hotpatch::engine {
namespace {

Error prefixed(Error e, const std::string& who) {
  e.subject = e.subject.empty() ? who : who + ": " + e.subject;
  return e;
}

// How a function never patched before is redirected: through its compiler-placed pad, with an
// entry jump, or, when its entry takes no jump, through the vtable slots that hold it.
Status plan_first_redirect(const LoadedModule& module, TargetPlan& plan, const std::string& who) {
  if (auto pad = find_entry_pad(module, plan.address, plan.size)) {
    plan.pad = pad;
    plan.entry = arch::entry_plan_of(*pad);
    return {};
  }
  auto entry = arch::plan_entry(reinterpret_cast<const std::uint8_t*>(plan.address), plan.size, plan.address,
                                plan.symbol, os::indirect_branch_tracking_enforced());
  if (entry) {
    plan.entry = *entry;
    return {};
  }
  plan.vtable_slots = find_vtable_slots(plan.address);
  if (plan.vtable_slots.empty()) {
    Error e = entry.error();
    if (e.code == ErrorCode::not_patchable) e.message += "; it is not in any vtable either";
    return prefixed(e, who);
  }
  plan.redirect = Redirect::vtable;
  log::info(plan.symbol + " takes no entry jump (" + entry.error().message + "); patching its " +
            std::to_string(plan.vtable_slots.size()) +
            " vtable slot(s); calls that do not go through a vtable still reach the old code");
  return {};
}

}  // namespace

Result<ApplyPlan> plan_apply(const LoadedModule& module, const PatchManifest& manifest, const PatchTable& table,
                             const std::string& who) {
  ApplyPlan out;
  out.module = module;
  std::set<std::uintptr_t> seen;
  for (const auto& r : manifest.replaces) {
    auto sym = image::resolve_symbol(module, r.target_symbol, image::SymbolKind::function);
    // A patch made from a diff knows its unit: a static of that name in several units is the unit's.
    if (!sym && sym.error().code == ErrorCode::ambiguous_symbol && r.from_object && r.object < manifest.objects.size())
      sym = image::resolve_local_symbol(module, r.target_symbol, manifest.objects[r.object].unit);
    if (!sym) return prefixed(sym.error(), who);
    if (!seen.insert(sym->address).second)
      return make_error(ErrorCode::malformed_patch, who, "replaces '" + sym->name + "' twice (under two names)");
    TargetPlan plan;
    plan.symbol = sym->name;
    plan.address = sym->address;
    plan.size = sym->size;
    const FunctionEntry* existing = table.find(sym->address);
    if (existing != nullptr && existing->unloaded) {
      // Recorded for a module that is gone; what is at this address now is another mapping.
      if (!existing->layers.empty())
        return make_error(ErrorCode::not_patchable, who,
                          "'" + sym->name + "' was patched by '" + existing->layers.back().patch->info.manifest.id +
                              "' in a module that has since been unloaded; revert that patch first");
      out.stale_entries.push_back(sym->address);
      existing = nullptr;
    }
    if (existing != nullptr && !existing->layers.empty()) {
      const auto& top = *existing->layers.back().patch;
      if (manifest.version <= top.info.manifest.version)
        return make_error(ErrorCode::version_not_newer, who,
                          "'" + sym->name + "' is at version " + std::to_string(top.info.manifest.version) + " (patch '" +
                              top.info.manifest.id + "'); version " + std::to_string(manifest.version) +
                              " is not higher");
      plan.redirect = existing->method == RedirectMethod::vtable_slot ? Redirect::vtable : Redirect::switch_slot;
      plan.vtable_slots = existing->vtable_slots;
    } else if (existing != nullptr) {
      plan.redirect = existing->method == RedirectMethod::vtable_slot ? Redirect::vtable : Redirect::reuse_jump;
      plan.vtable_slots = existing->vtable_slots;
    } else {
      HOTPATCH_TRY(plan_first_redirect(module, plan, who));
    }
    out.targets.push_back(std::move(plan));
  }
  for (const auto& imp : manifest.imports) {
    auto sym = image::resolve_symbol(module, imp.target_symbol, image::SymbolKind::any);
    if (!sym) return prefixed(sym.error(), who + " import");
    out.imports.push_back({imp.variable, imp.target_symbol, sym->address});
  }
  return out;
}

}  // namespace hotpatch::engine
