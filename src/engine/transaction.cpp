// Apply and revert, each one transaction. The journey of a patch reads top to bottom in apply_locked:
// read manifest -> find target module -> resolve and check every target -> load -> bind imports
// -> build redirects -> write (code first, then pointer switches) -> record.
#include "engine/engine.hpp"

#include "engine/pointer_writes.hpp"
#include "engine/stack_consistency.hpp"
#include "engine/vtable_slots.hpp"
#include "image/module_list.hpp"
#include "image/symbol_index.hpp"
#include "os/linux/code_writer.hpp"
#include "os/linux/loader_hooks.hpp"
#include "os/linux/near_allocator.hpp"
#include "os/linux/task_status.hpp"
#include "os/linux/thread_round.hpp"
#include "support/log.hpp"

#include <cstring>
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <set>

namespace hotpatch::engine {
namespace {

enum class Action { new_jump, reuse_jump, switch_slot, vtable };

struct TargetPlan {
  std::string symbol;
  std::uintptr_t address = 0;
  std::size_t size = 0;
  Action action = Action::new_jump;
  arch::EntryPlan entry;
  std::optional<arch::PadPlan> pad;  ///< new_jump through a compiler-placed pad
  std::vector<std::uintptr_t> vtable_slots;
  std::uintptr_t replacement = 0;
};

std::string loaded_builds_summary() {
  std::string out;
  int n = 0;
  for (const auto& m : image::list_modules()) {
    if (m.build_id.empty() || m.path.empty()) continue;
    if (n++ == 3) {
      out += ", ...";
      break;
    }
    out += (out.empty() ? "" : ", ") + m.name + " " + m.build_id.substr(0, 12);
  }
  return out;
}

std::uint64_t nanoseconds(std::chrono::steady_clock::duration d) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

Error prefixed(Error e, const std::string& patch) {
  if (e.subject.empty()) e.subject = patch;
  else e.subject = patch + ": " + e.subject;
  return e;
}

}  // namespace

Engine& Engine::instance() {
  static Engine* engine = [] {
    auto* e = new Engine;  // never destroyed: patched code may run during exit
    // A child forked while another thread is mid-apply (or mid-log-line) would inherit a locked
    // mutex and deadlock on its first patch or log line; fork waits for them instead. The engine's
    // inner locks (symbols, code writer, signals) are only taken under the engine mutex.
    pthread_atfork([] { Engine::instance().mutex_.lock(); log::lock_for_fork(); },
                   [] { log::unlock_after_fork(); Engine::instance().mutex_.unlock(); },
                   [] { log::unlock_after_fork(); Engine::instance().mutex_.unlock(); });
    os::set_load_listener([] { Engine::instance().on_modules_loaded(); });
    return e;
  }();
  return *engine;
}

Result<AppliedPatch> Engine::apply(const std::string& path, const ApplyOptions& options) {
  return apply_guarded(path, [&] { return read_patch_image(path); }, options);
}

Result<AppliedPatch> Engine::apply(std::vector<std::uint8_t> bytes, const std::string& name,
                                   const ApplyOptions& options) {
  return apply_guarded(name, [&] { return patch_image_from_bytes(std::move(bytes), name); }, options);
}

Result<AppliedPatch> Engine::apply_guarded(const std::string& name, const std::function<Result<PatchImage>()>& read,
                                           const ApplyOptions& options) {
  std::lock_guard lock(mutex_);
  auto result = apply_locked(read, options);
  // A library unloaded mid-apply (nothing written): planned again, against what is loaded now.
  for (int again = 0; again < 3 && !result && unloaded_during_apply_; ++again) {
    unloaded_during_apply_ = false;
    result = apply_locked(read, options);
  }
  unloaded_during_apply_ = false;
  update_load_following();
  if (!result) {
    ++stats_.refusals;
    log::warning("refused " + name + ": " + result.error().what());
  }
  return result;
}

Result<AppliedPatch> Engine::apply_locked(const std::function<Result<PatchImage>()>& read_image,
                                          const ApplyOptions& options) {
  const auto t_started = std::chrono::steady_clock::now();
  HOTPATCH_LET(image, read_image());
  sync_with_loader_locked();
  const std::string& path = image.path;
  const PatchManifest& manifest = image.manifest;
  const std::string who = "patch '" + manifest.id + "' v" + std::to_string(manifest.version);
  if (options.expect_id && manifest.id != *options.expect_id)
    return make_error(ErrorCode::malformed_patch, who,
                      "declares id '" + manifest.id + "', but it was offered as patch '" + *options.expect_id + "'");
  if (options.expect_version && manifest.version != *options.expect_version)
    return make_error(ErrorCode::malformed_patch, who,
                      "declares version " + std::to_string(manifest.version) + ", but it was offered as version " +
                          std::to_string(*options.expect_version));

  // Planning reads the target's code and vtables: no module may be unmapped meanwhile. The guard
  // is let go while the patch is loaded (that takes the loader's lock) and taken again to write.
  auto unloads = os::hold_module_unloads();
  const auto planned_at = image::module_generation();
  auto module = image::find_module_by_build_id(manifest.target_build_id);
  if (!module)
    return make_error(ErrorCode::wrong_build, who,
                      "built for " + manifest.target_module + " with build-id " + manifest.target_build_id +
                          ", which is not loaded in this process (loaded: " + loaded_builds_summary() + ")");
  if (table_.has(manifest.id, manifest.version))
    return make_error(ErrorCode::already_applied, who, "is already applied");

  // Resolve and check every target before anything is loaded or written.
  std::vector<TargetPlan> plans;
  std::set<std::uintptr_t> seen;
  for (const auto& r : manifest.replaces) {
    auto sym = image::resolve_symbol(*module, r.target_symbol, image::SymbolKind::function);
    if (!sym) return prefixed(sym.error(), who);
    if (!seen.insert(sym->address).second)
      return make_error(ErrorCode::malformed_patch, who, "replaces '" + sym->name + "' twice (under two names)");
    TargetPlan plan;
    plan.symbol = sym->name;
    plan.address = sym->address;
    plan.size = sym->size;
    FunctionEntry* existing = table_.find(sym->address);
    if (existing != nullptr && existing->unloaded) {
      // Recorded for a module that is gone; what is at this address now is another mapping.
      if (!existing->layers.empty())
        return make_error(ErrorCode::not_patchable, who,
                          "'" + sym->name + "' was patched by '" + existing->layers.back().patch->info.manifest.id +
                              "' in a module that has since been unloaded; revert that patch first");
      table_.erase(sym->address);
      existing = nullptr;
    }
    if (existing != nullptr && !existing->layers.empty()) {
      const auto& top = *existing->layers.back().patch;
      if (manifest.version <= top.info.manifest.version)
        return make_error(ErrorCode::version_not_newer, who,
                          "'" + sym->name + "' is at version " + std::to_string(top.info.manifest.version) + " (patch '" +
                              top.info.manifest.id + "'); version " + std::to_string(manifest.version) +
                              " is not higher");
      plan.action = existing->method == RedirectMethod::vtable_slot ? Action::vtable : Action::switch_slot;
      plan.vtable_slots = existing->vtable_slots;
    } else if (existing != nullptr) {
      plan.action = existing->method == RedirectMethod::vtable_slot ? Action::vtable : Action::reuse_jump;
      plan.vtable_slots = existing->vtable_slots;
    } else if (auto pad = find_entry_pad(*module, sym->address, sym->size)) {
      plan.pad = pad;
      plan.entry = arch::entry_plan_of(*pad);
    } else {
      auto entry = arch::plan_entry(reinterpret_cast<const std::uint8_t*>(sym->address), sym->size, sym->address,
                                    sym->name, os::indirect_branch_tracking_enforced());
      if (entry) {
        plan.entry = *entry;
      } else {
        plan.vtable_slots = find_vtable_slots(sym->address);
        if (plan.vtable_slots.empty()) {
          Error e = entry.error();
          if (e.code == ErrorCode::not_patchable) e.message += "; it is not in any vtable either";
          return prefixed(e, who);
        }
        plan.action = Action::vtable;
        log::info(sym->name + " takes no entry jump (" + entry.error().message + "); patching its " +
                  std::to_string(plan.vtable_slots.size()) +
                  " vtable slot(s); calls that do not go through a vtable still reach the old code");
      }
    }
    plans.push_back(std::move(plan));
  }
  std::vector<std::pair<std::string, std::uintptr_t>> imports;
  for (const auto& imp : manifest.imports) {
    auto sym = image::resolve_symbol(*module, imp.target_symbol, image::SymbolKind::any);
    if (!sym) return prefixed(sym.error(), who + " import");
    imports.emplace_back(imp.variable, sym->address);
  }

  unloads.unlock();

  // Load the patch (the very bytes checked above) and bind it.
  const auto t_resolved = std::chrono::steady_clock::now();
  bool fresh = false;
  auto load_result = loader_.load(image, fresh);
  if (!load_result) return prefixed(load_result.error(), who);
  void* handle = *load_result;
  bool reachable = false;  // once its code could have run, the patch is never unloaded
  auto fail = [&](Error e) -> Error {
    if (fresh && !reachable) {
      loader_.forget(handle);
      os::real_dlclose(handle);
    }
    return prefixed(std::move(e), who);
  };
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const std::string& var = manifest.replaces[i].replacement_symbol;
    auto* holder = static_cast<void* const*>(dlsym(handle, var.c_str()));
    if (holder == nullptr || *holder == nullptr)
      return fail(make_error(ErrorCode::malformed_patch, var, "the patch does not export this replacement pointer"));
    plans[i].replacement = reinterpret_cast<std::uintptr_t>(*holder);
  }
  for (const auto& [var, address] : imports) {
    auto* slot = static_cast<void**>(dlsym(handle, var.c_str()));
    if (slot == nullptr)
      return fail(make_error(ErrorCode::malformed_patch, var, "the patch does not export this import variable"));
    *slot = reinterpret_cast<void*>(address);
  }
  std::vector<ImportSlot> import_slots;
  for (std::size_t i = 0; i < imports.size(); ++i)
    import_slots.push_back({static_cast<void**>(dlsym(handle, imports[i].first.c_str())), manifest.imports[i].target_symbol});

  // Redirect memory for functions patched for the first time.
  const auto t_loaded = std::chrono::steady_clock::now();
  std::vector<RedirectRequest> requests;
  for (const auto& p : plans)
    if (p.action == Action::new_jump) requests.push_back({p.symbol, p.address, p.entry, p.replacement, p.pad});
  std::vector<EntryRedirect> built;
  std::vector<RedirectBlock> blocks;
  if (auto s = build_redirects(requests, built, blocks); !s) {
    for (const auto& b : blocks) os::unmap(b.base, b.size);
    return fail(s.error());
  }

  // Write: entry jumps first (the step a kernel policy may refuse), then pointer switches.
  std::vector<EntryRedirect*> jumps;
  std::vector<PointerWrite> pointers;
  for (auto& b : built) jumps.push_back(&b);
  for (const auto& p : plans) {
    FunctionEntry* existing = table_.find(p.address);
    if (p.action == Action::reuse_jump) {
      if (auto s = os::store_pointer(existing->redirect->slot, p.replacement, kSlotProt); !s) return fail(s.error());
      jumps.push_back(existing->redirect.get());
    } else if (p.action == Action::switch_slot) {
      pointers.push_back({existing->redirect->slot, existing->active_target(), p.replacement, kSlotProt});
    } else if (p.action == Action::vtable) {
      const std::uintptr_t before = existing != nullptr ? existing->active_target() : p.address;
      for (auto slot : p.vtable_slots) pointers.push_back({slot, before, p.replacement});
    }
  }
  // From here until the writes are done, no module can be unmapped (dlclose waits): confirm the
  // target is still the module resolved above, and every vtable written to is still loaded.
  // The stack check, right before the write: the functions it replaces and, for those patched
  // before, the code now running in their place.
  if (manifest.stack_consistency) {
    std::vector<CheckedFunction> checked;
    for (const auto& p : plans) {
      // A padded entry's pad is where a caller stands between the short jump and the long one.
      const FunctionEntry* known = table_.find(p.address);
      const bool padded = p.pad || (known != nullptr && known->redirect && known->redirect->pad);
      const std::uintptr_t lo = padded ? p.address - arch::kPadSize : p.address;
      checked.push_back({p.symbol, {lo, p.address + std::max<std::size_t>(p.size, 1)}});
      if (const FunctionEntry* e = table_.find(p.address); e != nullptr && e->redirect)
        checked.push_back({p.symbol + " (its relocated entry)", {e->redirect->trampoline, e->redirect->thunk}});
      if (const FunctionEntry* e = table_.find(p.address); e != nullptr && !e->layers.empty()) {
        Dl_info info{};
        ElfW(Sym)* sym = nullptr;
        const auto active = e->active_target();
        if (dladdr1(reinterpret_cast<void*>(active), &info, reinterpret_cast<void**>(&sym), RTLD_DL_SYMENT) != 0 &&
            sym != nullptr && sym->st_size > 0)
          checked.push_back({p.symbol + " (the version active now)", {active, active + sym->st_size}});
      }
    }
    if (auto s = wait_until_no_stack_uses(checked, options.consistency_timeout, options.thread_timeout); !s) {
      for (const auto& b : blocks) os::unmap(b.base, b.size);
      return fail(s.error());
    }
  }

  // The failure paths close the patch (the loader's lock): the guard is released first.
  unloads.lock();
  auto fail_written = [&](Error e) {
    unloads.unlock();
    return fail(std::move(e));
  };
  auto unloaded_meanwhile = [&](const std::string& what) {
    for (const auto& b : blocks) os::unmap(b.base, b.size);
    return fail_written(make_error(ErrorCode::wrong_build, what, "was unloaded while the patch was being applied"));
  };
  if (image::module_generation().subs != planned_at.subs) {
    // Something was unloaded while the patch was loaded: the plan may describe code that is gone.
    unloaded_during_apply_ = true;
    return unloaded_meanwhile("a library");
  }
  reachable = !jumps.empty();  // even a failed install may have let a caller through for a moment
  if (auto s = install_jumps(jumps, options.thread_timeout); !s) return fail_written(s.error());
  if (auto s = write_pointers(pointers); !s) {
    reachable = true;
    (void)remove_jumps(jumps, options.thread_timeout);
    return fail_written(s.error());
  }
  unloads.unlock();

  // Record.
  const auto t_written = std::chrono::steady_clock::now();
  const auto now = std::chrono::system_clock::now();
  AppliedRecord record;
  record.info = {manifest, path, image.sha256, now};
  record.handle = handle;
  record.imports = std::move(import_slots);
  for (const auto& p : plans) record.functions.push_back(p.address);
  const AppliedRecord& rec = table_.add_patch(std::move(record));
  for (const auto& p : plans) {
    FunctionEntry* entry = table_.find(p.address);
    if (entry == nullptr) {
      FunctionEntry added;
      added.symbol = p.symbol;
      added.module = module->name;
      added.build_id = module->build_id;
      added.module_base = module->base;
      added.address = p.address;
      added.method = p.action == Action::vtable ? RedirectMethod::vtable_slot : RedirectMethod::entry_jump;
      added.vtable_slots = p.vtable_slots;
      if (p.action == Action::new_jump) {
        auto it = std::find_if(built.begin(), built.end(), [&](const EntryRedirect& b) { return b.function == p.address; });
        added.redirect = std::make_unique<EntryRedirect>(std::move(*it));
      }
      entry = &table_.insert(std::move(added));
    }
    if (entry->method == RedirectMethod::entry_jump) entry->jump_live = true;
    entry->layers.push_back({&rec, p.replacement, now});
  }
  ++stats_.applies;
  stats_.code_writes += jumps.size();
  stats_.pad_writes += count_padded(jumps);
  stats_.slot_writes += pointers.size();
  stats_.resolve_ns += nanoseconds(t_resolved - t_started);
  stats_.load_ns += nanoseconds(t_loaded - t_resolved);
  stats_.write_ns += nanoseconds(t_written - t_loaded);
  log::info("applied " + who + " (" + manifest.about + "): " + std::to_string(plans.size()) + " function(s)");
  return rec.info;
}

Status Engine::revert(std::string_view id, const ApplyOptions& options) {
  std::lock_guard lock(mutex_);
  auto result = revert_locked(id, options);
  update_load_following();
  if (!result) {
    ++stats_.refusals;
    log::warning("revert of '" + std::string(id) + "' refused: " + result.error().what());
  }
  return result;
}

Status Engine::revert_locked(std::string_view id_view, const ApplyOptions& options) {
  const std::string id(id_view);
  const AppliedRecord* rec = table_.newest_with_id(id);
  if (rec == nullptr) return make_error(ErrorCode::not_applied, "patch '" + id + "'", "is not applied");
  const std::string who = "patch '" + id + "' v" + std::to_string(rec->info.manifest.version);

  const auto t_started = std::chrono::steady_clock::now();
  sync_with_loader_locked();
  // No module can be unmapped from here until the writes are done (dlclose waits); one unmapped
  // since the look above is marked now, and nothing is written for it.
  auto unloads = os::hold_module_unloads();
  notice_unloaded_modules();
  std::vector<EntryRedirect*> to_original;
  std::vector<PointerWrite> pointers;
  std::size_t gone = 0;
  for (auto address : rec->functions) {
    FunctionEntry* f = table_.find(address);
    if (f == nullptr || f->layers.empty() || f->layers.back().patch != rec) continue;  // not active: no write
    if (f->unloaded) {  // its module is gone: the revert only cancels it
      ++gone;
      continue;
    }
    const std::uintptr_t below = f->layers.size() > 1 ? f->layers[f->layers.size() - 2].replacement : 0;
    if (f->method == RedirectMethod::vtable_slot) {
      for (auto slot : f->vtable_slots) pointers.push_back({slot, f->active_target(), below ? below : f->address});
    } else if (below != 0) {
      pointers.push_back({f->redirect->slot, f->active_target(), below, kSlotProt});
    } else {
      to_original.push_back(f->redirect.get());
    }
  }
  HOTPATCH_TRY(write_pointers(pointers));
  if (auto s = remove_jumps(to_original, options.thread_timeout); !s) {
    std::vector<PointerWrite> back;
    for (const auto& w : pointers) back.push_back({w.at, w.after, w.before, w.prot});
    (void)write_pointers(back);
    return prefixed(s.error(), who);
  }
  unloads.unlock();
  stats_.write_ns += nanoseconds(std::chrono::steady_clock::now() - t_started);

  const auto now = std::chrono::system_clock::now();
  for (auto address : rec->functions) {
    FunctionEntry* f = table_.find(address);
    if (f == nullptr) continue;
    const bool was_top = !f->layers.empty() && f->layers.back().patch == rec;
    std::erase_if(f->layers, [&](const Layer& l) { return l.patch == rec; });
    if (was_top && !f->layers.empty()) f->layers.back().since = now;
    if (f->layers.empty() && f->method == RedirectMethod::entry_jump) f->jump_live = false;
  }
  log::info("reverted " + who +
            (gone ? " (" + std::to_string(gone) + " function(s) in unloaded modules cancelled, nothing written there)" : ""));
  table_.remove_patch(rec);
  ++stats_.reverts;
  stats_.code_writes += to_original.size();
  stats_.pad_writes += count_padded(to_original);
  stats_.slot_writes += pointers.size();
  return {};
}

std::vector<PatchedFunction> Engine::table() {
  std::lock_guard lock(mutex_);
  sync_with_loader_locked();
  return table_.rows();
}

std::vector<AppliedPatch> Engine::patches() {
  std::lock_guard lock(mutex_);
  sync_with_loader_locked();
  return table_.patches();
}

EngineStats Engine::stats() {
  std::lock_guard lock(mutex_);
  EngineStats s = stats_;
  const auto c = os::safety_counters();
  s.safety_rounds = c.rounds;
  s.threads_relocated = c.relocated;
  s.threads_held = c.held;
  s.trap_redirects = c.trap_redirects;
  return s;
}

}  // namespace hotpatch::engine
