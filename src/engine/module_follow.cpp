// Modules that come and go under applied patches. An unloaded module's functions are marked and
// never written again; when the same build is loaded again the patch follows it (as the kernel's
// livepatch does for modules): the active version of each function is applied to the new copy.
#include "engine/engine.hpp"

#include "engine/pointer_writes.hpp"
#include "engine/vtable_slots.hpp"
#include "image/symbol_index.hpp"
#include "os/linux/loader_hooks.hpp"
#include "os/linux/near_allocator.hpp"
#include "os/linux/task_status.hpp"
#include "support/log.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>

namespace hotpatch::engine {
namespace {

// How long a dlopen waits for a transaction in another thread before leaving the follow-up to the
// engine's next operation. The wait is bounded because that transaction may itself be waiting for
// the loader's lock, held by a library constructor that called this dlopen.
constexpr auto kLoadWait = std::chrono::seconds(2);

bool still_ours(const FunctionEntry& f) {
  if (f.method == RedirectMethod::entry_jump) {
    // The same module unloaded and loaded again at the same address holds its original bytes, not
    // our jump (its code is mapped, so reading it is safe).
    return !f.jump_live || !f.redirect || jump_in_place(*f.redirect);
  }
  if (f.layers.empty()) return true;
  return std::all_of(f.vtable_slots.begin(), f.vtable_slots.end(), [&](std::uintptr_t slot) {
    // A vtable in a module that is gone holds nothing to compare (and cannot be read).
    return !image::find_module_containing(slot) || *reinterpret_cast<const std::uintptr_t*>(slot) == f.active_target();
  });
}

}  // namespace

void Engine::notice_unloaded_modules() {
  const auto now = image::module_generation();
  if (now == generation_seen_) return;
  std::set<const AppliedRecord*> touched;
  std::vector<std::uintptr_t> forgotten;  // kept only to reuse their redirect, which is of no use now
  table_.for_each([&](FunctionEntry& f) {
    if (f.unloaded) return;
    const auto m = image::find_module_containing(f.address);
    const bool same_module = m && m->build_id == f.build_id && m->base == f.module_base;
    const bool reloaded = same_module && !still_ours(f);
    if (same_module && !reloaded) return;
    f.unloaded = true;
    f.follow_error.clear();
    if (f.layers.empty()) {
      forgotten.push_back(f.address);
      return;
    }
    for (const auto& l : f.layers) touched.insert(l.patch);
    log::warning(f.symbol + " in " + f.module + ": its module was unloaded" + (reloaded ? " and loaded again" : "") +
                 "; nothing is written there; the patch follows the module if it is loaded again, and reverting it "
                 "cancels it");
  });
  for (auto a : forgotten) table_.erase(a);
  for (const auto* rec : touched) {
    bool all_gone = true;
    for (auto a : rec->functions) {
      const FunctionEntry* f = table_.find(a);
      if (f == nullptr || !f->unloaded) all_gone = false;
    }
    if (all_gone)
      log::warning("patch '" + rec->info.manifest.id + "' v" + std::to_string(rec->info.manifest.version) +
                   ": every function it replaces is in an unloaded module; its object stays loaded, as a thread may "
                   "still be running its code");
  }
  generation_seen_ = now;
}

void Engine::sync_with_loader_locked() {
  // Both steps read code of loaded modules; neither takes the loader's lock.
  auto unloads = os::hold_module_unloads();
  const auto before = generation_seen_;
  notice_unloaded_modules();
  if (generation_seen_ != before) follow_reloaded_modules();
}

void Engine::follow_reloaded_modules() {
  std::map<std::string, std::vector<std::uintptr_t>> waiting;  // build-id -> entries to follow it
  table_.for_each([&](FunctionEntry& f) {
    if (f.unloaded && !f.layers.empty()) waiting[f.build_id].push_back(f.address);
  });
  for (const auto& [build_id, keys] : waiting) {
    auto module = modules_.by_build_id(build_id);
    if (!module) continue;
    if (auto s = follow_into(*module, keys); !s) {
      const std::string why = s.error().what();
      for (auto k : keys)
        if (FunctionEntry* f = table_.find(k)) f->follow_error = why;
      log::write(LogLevel::error, module->name + " was loaded again, but its patches could not follow it: " + why +
                 "; it runs unpatched");
    } else {
      log::info(module->name + " was loaded again; its " + std::to_string(keys.size()) +
                " patched function(s) were patched again");
    }
  }
}

Status Engine::follow_into(const LoadedModule& module, const std::vector<std::uintptr_t>& keys) {
  struct Move {
    std::uintptr_t from = 0;
    std::uintptr_t to = 0;
    arch::EntryPlan plan;
    std::optional<arch::PadPlan> pad;
    std::vector<std::uintptr_t> slots;
  };
  std::vector<Move> moves;
  std::set<const AppliedRecord*> records;
  for (auto key : keys) {
    FunctionEntry& f = *table_.find(key);
    auto sym = image::resolve_symbol(module, f.symbol, image::SymbolKind::function);
    if (!sym) return sym.error();
    if (const FunctionEntry* there = table_.find(sym->address); there != nullptr && there->layers.empty() && sym->address != key)
      table_.erase(sym->address);  // a record kept only for reuse, of a copy that is gone
    if (sym->address != key && table_.find(sym->address) != nullptr)
      return make_error(ErrorCode::not_patchable, f.symbol,
                        "another patched function is still recorded at its new address; revert that patch first");
    Move m{key, sym->address, {}, {}, {}};
    if (f.method == RedirectMethod::entry_jump && (m.pad = find_entry_pad(module, sym->address, sym->size))) {
      m.plan = arch::entry_plan_of(*m.pad);
    } else if (f.method == RedirectMethod::entry_jump) {
      auto plan = arch::plan_entry(reinterpret_cast<const std::uint8_t*>(sym->address), sym->size, sym->address,
                                   sym->name, os::indirect_branch_tracking_enforced());
      if (!plan) return plan.error();
      m.plan = *plan;
    } else {
      m.slots = find_vtable_slots(sym->address);
      if (m.slots.empty()) return make_error(ErrorCode::not_patchable, f.symbol, "is in no vtable of the new copy");
    }
    moves.push_back(std::move(m));
    for (const auto& l : f.layers) records.insert(l.patch);
  }
  // Imports into this module, for every version (a revert makes an older one active again). The
  // patch code is not running against the new copy yet, so the stores race with nothing.
  for (const auto* rec : records) {
    if (rec->info.manifest.target_build_id != module.build_id) continue;
    if (rec->linked_to_module)
      return make_error(ErrorCode::not_patchable, "patch '" + rec->info.manifest.id + "'",
                        "was made from a source diff and linked against the module where it was loaded before; "
                        "apply it again to patch the new copy");
    for (const auto& imp : rec->imports) {
      auto sym = image::resolve_symbol(module, imp.symbol, image::SymbolKind::any);
      if (!sym) return sym.error();
      *imp.slot = reinterpret_cast<void*>(sym->address);
    }
  }

  std::vector<RedirectRequest> requests;
  std::vector<PointerWrite> pointers;
  for (const auto& m : moves) {
    const FunctionEntry& f = *table_.find(m.from);
    if (f.method == RedirectMethod::entry_jump) requests.push_back({f.symbol, m.to, m.plan, f.active_target(), m.pad});
    for (auto slot : m.slots) pointers.push_back({slot, m.to, f.active_target()});
  }
  std::vector<EntryRedirect> built;
  std::vector<RedirectBlock> blocks;
  if (auto s = build_redirects(requests, built, blocks); !s) {
    for (const auto& b : blocks) os::unmap(b.base, b.size);
    return s;
  }
  std::vector<EntryRedirect*> jumps;
  for (auto& b : built) jumps.push_back(&b);
  // Called with module unloads held (sync_with_loader_locked): the module is still there.
  if (auto s = install_jumps(jumps, std::chrono::milliseconds(500)); !s) return s;
  if (auto s = write_pointers(pointers); !s) {
    (void)remove_jumps(jumps, std::chrono::milliseconds(500));
    return s;
  }
  for (const auto& m : moves) {
    FunctionEntry& f = table_.rekey(m.from, m.to);
    f.module_base = module.base;
    f.unloaded = false;
    f.follow_error.clear();
    if (f.method == RedirectMethod::entry_jump) {
      auto it = std::find_if(built.begin(), built.end(), [&](const EntryRedirect& b) { return b.function == m.to; });
      f.redirect = std::make_unique<EntryRedirect>(std::move(*it));
      f.jump_live = true;
    } else {
      f.vtable_slots = m.slots;
    }
  }
  stats_.code_writes += jumps.size();
  stats_.pad_writes += count_padded(jumps);
  stats_.slot_writes += pointers.size();
  return {};
}

void Engine::on_modules_loaded() {
  std::unique_lock lock(mutex_, std::defer_lock);
  if (!lock.try_lock_for(kLoadWait)) {
    log::warning("a library was loaded while a patch transaction kept the engine busy; patches that target it "
                 "follow it at the engine's next operation");
    return;
  }
  sync_with_loader_locked();
}

void Engine::update_load_following() {
  const bool follow = table_.has_patches();
  os::set_follow_loads(follow);
  static bool told = false;
  if (follow && !told && !os::loader_hooks_in_place()) {
    told = true;
    log::info("this process's dlopen is not the runtime's (it was loaded after the program started): a library "
              "a patch targets that is loaded again is patched at the runtime's next operation, not by dlopen");
  }
}

}  // namespace hotpatch::engine
