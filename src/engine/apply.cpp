// Apply, one transaction. Its journey reads top to bottom in apply_locked: read the patch -> plan
// (resolve and check every target, apply_plan.cpp) -> load -> bind -> build redirects -> stack
// check (opt-in) -> write (code first, then pointer switches) -> record. Nothing is written before
// every check has passed; a failure before the write leaves the process as it was.
#include "engine/engine.hpp"

#include "engine/apply_plan.hpp"
#include "engine/entry_redirect.hpp"
#include "engine/object_loader.hpp"
#include "engine/pointer_writes.hpp"
#include "engine/stack_consistency.hpp"
#include "image/module_list.hpp"
#include "image/symbol_index.hpp"
#include "os/linux/loader_hooks.hpp"
#include "os/linux/near_allocator.hpp"
#include "support/log.hpp"

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <chrono>

namespace hotpatch::engine {
namespace {

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

Error prefixed(Error e, const std::string& who) {
  e.subject = e.subject.empty() ? who : who + ": " + e.subject;
  return e;
}

// A patch offered under an id or version (a registry entry, a control request) must declare it.
Status check_offered_as(const PatchManifest& manifest, const ApplyOptions& options, const std::string& who) {
  if (options.expect_id && manifest.id != *options.expect_id)
    return make_error(ErrorCode::malformed_patch, who,
                      "declares id '" + manifest.id + "', but it was offered as patch '" + *options.expect_id + "'");
  if (options.expect_version && manifest.version != *options.expect_version)
    return make_error(ErrorCode::malformed_patch, who,
                      "declares version " + std::to_string(manifest.version) + ", but it was offered as version " +
                          std::to_string(*options.expect_version));
  return {};
}

// Whether an exception, a pthread_cancel or a backtrace can pass through the patch's code: when
// not, the log says so (the apply goes on; code that never sees one is unaffected).
void log_unwinding(const UnwindRegistration& u, const std::string& who) {
  if (u.no_unwinder) {
    log::warning(who + ": unwinding through its code is not possible in this process (no __register_frame: libgcc_s "
                       "is not loaded); a C++ exception that reaches it ends the process");
  }
  if (u.left_out != 0) {
    log::warning(who + ": " + std::to_string(u.left_out) +
                 " unwind entries of its code are left out (they need a section the patch does not carry: make the "
                 "patch again with this version's make-patch); an exception through those functions ends the process");
  }
  log::debug(who + ": " + std::to_string(u.functions) + " unwind entries registered");
}

// A patch made from a diff: its objects (one per fixed unit) linked together next to the target
// module. Their references to what no object carries are the program's: the module's statics of
// the object's unit and other symbols, then whatever library the program's own calls bind to.
Result<LoadedObject> link_objects(void* handle, const PatchManifest& manifest, const ApplyPlan& plan,
                                  const std::string& who) {
  std::vector<ObjectToLoad> objects;
  for (const ManifestObject& o : manifest.objects) {
    const auto* bytes = static_cast<const std::uint8_t*>(dlsym(handle, o.symbol.c_str()));
    if (bytes == nullptr) return make_error(ErrorCode::malformed_patch, o.symbol, "the patch does not export its object");
    objects.push_back({{bytes, o.size}, o.sections, o.unit});
  }
  const LoadedModule& module = plan.module;
  auto lookup = [&](const std::string& name, bool local, const std::string& unit) -> Result<std::uintptr_t> {
    if (local) {
      HOTPATCH_LET(s, image::resolve_local_symbol(module, name, unit));
      return s.address;
    }
    // An external reference binds to the module's global of that name, never to a static of
    // another unit that happens to share it.
    if (auto s = image::resolve_global_symbol(module, name)) return s->address;
    if (void* p = dlsym(RTLD_DEFAULT, name.c_str())) return reinterpret_cast<std::uintptr_t>(p);
    return make_error(ErrorCode::symbol_not_found, name,
                      "the patch's code uses it, and neither " + module.name + " nor a library loaded in the process defines it");
  };
  HOTPATCH_LET(loaded, load_objects_near(objects, module.base, lookup, who));
  log_unwinding(loaded.unwind(), who);
  return loaded;
}

// Fills in each target's replacement and points each import at its target; returns the import
// slots, bound again if the target module is ever loaded again.
Result<std::vector<ImportSlot>> bind(void* handle, const PatchManifest& manifest, ApplyPlan& plan,
                                     const LoadedObject* object) {
  for (std::size_t i = 0; i < plan.targets.size(); ++i) {
    const std::string& var = manifest.replaces[i].replacement_symbol;
    if (manifest.replaces[i].from_object) {
      auto at = object != nullptr ? object->symbol(manifest.replaces[i].object, var) : std::nullopt;
      if (!at) return make_error(ErrorCode::malformed_patch, var, "the patch's object does not define this function");
      plan.targets[i].replacement = *at;
      continue;
    }
    auto* holder = static_cast<void* const*>(dlsym(handle, var.c_str()));
    if (holder == nullptr || *holder == nullptr)
      return make_error(ErrorCode::malformed_patch, var, "the patch does not export this replacement pointer");
    plan.targets[i].replacement = reinterpret_cast<std::uintptr_t>(*holder);
  }
  std::vector<ImportSlot> slots;
  for (const auto& imp : plan.imports) {
    auto* slot = static_cast<void**>(dlsym(handle, imp.variable.c_str()));
    if (slot == nullptr)
      return make_error(ErrorCode::malformed_patch, imp.variable, "the patch does not export this import variable");
    *slot = reinterpret_cast<void*>(imp.address);
    slots.push_back({slot, imp.target_symbol});
  }
  return slots;
}

// The writes of one apply, in the order they are made.
struct ApplyWrites {
  std::vector<PointerWrite> reused_slots;  ///< kept redirects, pointed at the new version before their jump
  std::vector<EntryRedirect*> jumps;       ///< entry jumps to write (new and kept redirects)
  std::vector<PointerWrite> switches;      ///< slots of active versions and vtable slots
};

ApplyWrites collect_writes(const ApplyPlan& plan, PatchTable& table, std::vector<EntryRedirect>& built) {
  ApplyWrites w;
  for (auto& b : built) w.jumps.push_back(&b);
  for (const auto& t : plan.targets) {
    FunctionEntry* existing = table.find(t.address);
    switch (t.redirect) {
      case Redirect::new_jump: break;
      case Redirect::reuse_jump:
        w.reused_slots.push_back({existing->redirect->slot, existing->active_target(), t.replacement, kSlotProt});
        w.jumps.push_back(existing->redirect.get());
        break;
      case Redirect::switch_slot:
        w.switches.push_back({existing->redirect->slot, existing->active_target(), t.replacement, kSlotProt});
        break;
      case Redirect::vtable: {
        const std::uintptr_t before = existing != nullptr ? existing->active_target() : t.address;
        for (auto slot : t.vtable_slots) w.switches.push_back({slot, before, t.replacement});
        break;
      }
    }
  }
  return w;
}

// What the opt-in stack check waits for no thread to be running: the functions replaced and, for
// those patched before, their relocated entry and the version active now.
std::vector<CheckedFunction> stack_check_ranges(const ApplyPlan& plan, PatchTable& table) {
  std::vector<CheckedFunction> checked;
  for (const auto& t : plan.targets) {
    const FunctionEntry* known = table.find(t.address);
    // A padded entry's pad is where a caller stands between the short jump and the long one.
    const bool padded = t.pad || (known != nullptr && known->redirect && known->redirect->pad);
    const std::uintptr_t lo = padded ? t.address - arch::kPadSize : t.address;
    checked.push_back({t.symbol, {lo, t.address + std::max<std::size_t>(t.size, 1)}});
    if (known != nullptr && known->redirect)
      checked.push_back({t.symbol + " (its relocated entry)", {known->redirect->trampoline, known->redirect->thunk}});
    if (known != nullptr && !known->layers.empty()) {
      Dl_info info{};
      ElfW(Sym)* sym = nullptr;
      const auto active = known->active_target();
      if (dladdr1(reinterpret_cast<void*>(active), &info, reinterpret_cast<void**>(&sym), RTLD_DL_SYMENT) != 0 &&
          sym != nullptr && sym->st_size > 0)
        checked.push_back({t.symbol + " (the version active now)", {active, active + sym->st_size}});
    }
  }
  return checked;
}

// The applied patch enters the table: a new version on top of each function's stack.
const AppliedRecord& record(PatchTable& table, const PatchImage& image, void* handle, std::vector<ImportSlot> imports,
                            const ApplyPlan& plan, std::vector<EntryRedirect>& built, bool linked_to_module) {
  const auto now = std::chrono::system_clock::now();
  AppliedRecord applied;
  applied.info = {image.manifest, image.path, image.sha256, now};
  applied.handle = handle;
  applied.imports = std::move(imports);
  applied.linked_to_module = linked_to_module;
  for (const auto& t : plan.targets) applied.functions.push_back(t.address);
  const AppliedRecord& rec = table.add_patch(std::move(applied));
  for (const auto& t : plan.targets) {
    FunctionEntry* entry = table.find(t.address);
    if (entry == nullptr) {
      FunctionEntry added;
      added.symbol = t.symbol;
      added.module = plan.module.name;
      added.build_id = plan.module.build_id;
      added.module_base = plan.module.base;
      added.address = t.address;
      added.method = t.redirect == Redirect::vtable ? RedirectMethod::vtable_slot : RedirectMethod::entry_jump;
      added.vtable_slots = t.vtable_slots;
      if (t.redirect == Redirect::new_jump) {
        auto it = std::find_if(built.begin(), built.end(), [&](const EntryRedirect& b) { return b.function == t.address; });
        added.redirect = std::make_unique<EntryRedirect>(std::move(*it));
      }
      entry = &table.insert(std::move(added));
    }
    if (entry->method == RedirectMethod::entry_jump) entry->jump_live = true;
    entry->layers.push_back({&rec, t.replacement, now});
  }
  return rec;
}

}  // namespace

Result<AppliedPatch> Engine::apply(const std::string& path, const ApplyOptions& options) {
  return apply_guarded(
      path,
      [&]() -> Result<std::shared_ptr<const PatchImage>> {
        HOTPATCH_LET(bytes, read_patch_bytes(path));
        return images_.get(std::move(bytes), path);
      },
      options);
}

Result<AppliedPatch> Engine::apply(std::vector<std::uint8_t> bytes, const std::string& name,
                                   const ApplyOptions& options) {
  return apply_guarded(name, [&] { return images_.get(std::move(bytes), name); }, options);
}

Result<AppliedPatch> Engine::apply_guarded(const std::string& name, const ImageSource& read,
                                           const ApplyOptions& options) {
  std::lock_guard lock(mutex_);
  const auto started = std::chrono::steady_clock::now();
  auto image = read();
  Result<AppliedPatch> result = image ? apply_locked(**image, options, started) : Result<AppliedPatch>(image.error());
  // A library unloaded mid-apply (nothing written): planned again, against what is loaded now.
  for (int again = 0; again < 3 && !result && unloaded_during_apply_; ++again) {
    unloaded_during_apply_ = false;
    result = apply_locked(**image, options, std::chrono::steady_clock::now());
  }
  unloaded_during_apply_ = false;
  update_load_following();
  if (!result) {
    ++stats_.refusals;
    log::warning("refused " + name + ": " + result.error().what());
  }
  return result;
}

Result<AppliedPatch> Engine::apply_locked(const PatchImage& image, const ApplyOptions& options,
                                          std::chrono::steady_clock::time_point t_started) {
  sync_with_loader_locked();
  const PatchManifest& manifest = image.manifest;
  const std::string who = "patch '" + manifest.id + "' v" + std::to_string(manifest.version);
  HOTPATCH_TRY(check_offered_as(manifest, options, who));

  // Plan. It reads the target's code and vtables: no module may be unmapped meanwhile. The guard
  // is let go while the patch is loaded (that takes the loader's lock) and taken again to write.
  auto unloads = os::hold_module_unloads();
  const auto planned_at = image::module_generation();
  auto module = modules_.by_build_id(manifest.target_build_id);
  if (!module)
    return make_error(ErrorCode::wrong_build, who,
                      "built for " + manifest.target_module + " with build-id " + manifest.target_build_id +
                          ", which is not loaded in this process (loaded: " + loaded_builds_summary() + ")");
  if (table_.has(manifest.id, manifest.version))
    return make_error(ErrorCode::already_applied, who, "is already applied");
  HOTPATCH_LET(plan, plan_apply(*module, manifest, table_, who));
  for (auto address : plan.stale_entries) table_.erase(address);
  unloads.unlock();

  // Load the patch (the very bytes checked above) and bind it.
  const auto t_resolved = std::chrono::steady_clock::now();
  bool fresh = false;
  auto loaded = loader_.load(image, fresh);
  if (!loaded) return prefixed(loaded.error(), who);
  void* handle = *loaded;
  bool reachable = false;  // once its code could have run, the patch is never unloaded
  std::optional<LoadedObject> object;
  auto fail = [&](Error e) -> Error {
    if (object && !reachable) object->unload();
    if (fresh && !reachable) {
      loader_.forget(handle);
      os::real_dlclose(handle);
    }
    return prefixed(std::move(e), who);
  };
  if (!manifest.objects.empty()) {
    auto linked = link_objects(handle, manifest, plan, who);
    if (!linked) return fail(linked.error());
    object = std::move(*linked);
  }
  auto imports = bind(handle, manifest, plan, object ? &*object : nullptr);
  if (!imports) return fail(imports.error());

  // Redirect memory for functions patched for the first time.
  const auto t_loaded = std::chrono::steady_clock::now();
  std::vector<RedirectRequest> requests;
  for (const auto& t : plan.targets)
    if (t.redirect == Redirect::new_jump) requests.push_back({t.symbol, t.address, t.entry, t.replacement, t.pad});
  std::vector<EntryRedirect> built;
  std::vector<RedirectBlock> blocks;
  auto unmap_blocks = [&] {
    for (const auto& b : blocks) os::unmap(b.base, b.size);
  };
  if (auto s = build_redirects(requests, built, blocks); !s) {
    unmap_blocks();
    return fail(s.error());
  }
  ApplyWrites writes = collect_writes(plan, table_, built);

  if (manifest.stack_consistency) {
    if (auto s = wait_until_no_stack_uses(stack_check_ranges(plan, table_), options.consistency_timeout,
                                          options.thread_timeout);
        !s) {
      unmap_blocks();
      return fail(s.error());
    }
  }

  // Write. From here until the writes are done no module can be unmapped (dlclose waits). The
  // failure paths close the patch (the loader's lock): the guard is released first.
  unloads.lock();
  auto fail_written = [&](Error e) {
    unloads.unlock();
    return fail(std::move(e));
  };
  if (image::module_generation().subs != planned_at.subs) {
    // Something was unloaded while the patch was loaded: the plan may describe code that is gone.
    unloaded_during_apply_ = true;
    unmap_blocks();
    return fail_written(make_error(ErrorCode::wrong_build, "a library", "was unloaded while the patch was being applied"));
  }
  // Kept redirects are not reachable until their jump is written: their slots go first.
  if (auto s = write_pointers(writes.reused_slots); !s) return fail_written(s.error());
  reachable = !writes.jumps.empty();  // even a failed install may have let a caller through for a moment
  if (auto s = install_jumps(writes.jumps, options.thread_timeout); !s) return fail_written(s.error());
  if (auto s = write_pointers(writes.switches); !s) {
    reachable = true;
    (void)remove_jumps(writes.jumps, options.thread_timeout);
    return fail_written(s.error());
  }
  unloads.unlock();

  const auto t_written = std::chrono::steady_clock::now();
  const AppliedRecord& rec = record(table_, image, handle, std::move(*imports), plan, built, object.has_value());
  ++stats_.applies;
  stats_.code_writes += writes.jumps.size();
  stats_.pad_writes += count_padded(writes.jumps);
  stats_.slot_writes += writes.reused_slots.size() + writes.switches.size();
  stats_.resolve_ns += nanoseconds(t_resolved - t_started);
  stats_.load_ns += nanoseconds(t_loaded - t_resolved);
  stats_.write_ns += nanoseconds(t_written - t_loaded);
  log::info("applied " + who + " (" + manifest.about + "): " + std::to_string(plan.targets.size()) + " function(s)");
  return rec.info;
}

}  // namespace hotpatch::engine
