// The process's one patch engine: the apply and revert transactions over the patch table.
#pragma once

#include "engine/patch_object.hpp"
#include "engine/patch_table.hpp"
#include "image/module_list.hpp"

#include <hotpatch/runtime.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace hotpatch::engine {

class Engine {
 public:
  static Engine& instance();

  Result<AppliedPatch> apply(const std::string& path, const ApplyOptions& options);
  Result<AppliedPatch> apply(std::vector<std::uint8_t> bytes, const std::string& name, const ApplyOptions& options);
  Status revert(std::string_view id, const ApplyOptions& options);

  std::vector<PatchedFunction> table();
  std::vector<AppliedPatch> patches();
  EngineStats stats();

  /// The loader's hook: a module was loaded (outside the loader's lock, in the loading thread).
  void on_modules_loaded();

 private:
  using ImageSource = std::function<Result<std::shared_ptr<const PatchImage>>()>;
  Result<AppliedPatch> apply_locked(const PatchImage& image, const ApplyOptions& options,
                                    std::chrono::steady_clock::time_point started);
  Result<AppliedPatch> apply_guarded(const std::string& name, const ImageSource& read, const ApplyOptions& options);
  Status revert_locked(std::string_view id, const ApplyOptions& options);
  // When the loader's counters moved since the last look: marks functions whose module was
  // unloaded (or replaced by another at its address), then re-applies patches to modules of
  // theirs that are loaded again. Cheap when the counters did not move.
  void sync_with_loader_locked();
  void notice_unloaded_modules();
  void follow_reloaded_modules();
  // Applies the active versions recorded for `keys` (entries of one unloaded module) to `module`,
  // loaded again; on failure records why in each entry and leaves the module running unpatched.
  Status follow_into(const LoadedModule& module, const std::vector<std::uintptr_t>& keys);
  // After a transaction: whether dlopen has anything to report to the engine.
  void update_load_following();

  image::ModuleGeneration generation_seen_{};
  image::ModuleSnapshot modules_;  // the loaded modules, walked again only after a load or unload
  bool unloaded_during_apply_ = false;
  std::timed_mutex mutex_;
  PatchTable table_;
  EngineStats stats_;
  PatchImageCache images_;
  PatchLoader loader_;  // loaded patches stay loaded: a thread may still run them
};

}  // namespace hotpatch::engine
