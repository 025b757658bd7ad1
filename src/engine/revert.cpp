// Revert: the newest version of a patch comes off every function it replaced, and each function
// runs the version below it, or its own code again. The write is the same protocol as an apply's,
// backwards; nothing is unloaded (a thread may still run the patch's code).
#include "engine/engine.hpp"

#include "engine/entry_redirect.hpp"
#include "engine/pointer_writes.hpp"
#include "os/linux/loader_hooks.hpp"
#include "support/log.hpp"

#include <chrono>

namespace hotpatch::engine {
namespace {

Error prefixed(Error e, const std::string& who) {
  e.subject = e.subject.empty() ? who : who + ": " + e.subject;
  return e;
}

std::uint64_t nanoseconds(std::chrono::steady_clock::duration d) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

}  // namespace

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

}  // namespace hotpatch::engine
