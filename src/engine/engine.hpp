// The process's one patch engine: the apply and revert transactions over the patch table.
#pragma once

#include "engine/patch_object.hpp"
#include "engine/patch_table.hpp"
#include "image/module_list.hpp"

#include <hotpatch/runtime.hpp>

#include <functional>
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

 private:
  Result<AppliedPatch> apply_locked(const std::function<Result<PatchImage>()>& read_image, const ApplyOptions& options);
  Result<AppliedPatch> apply_guarded(const std::string& name, const std::function<Result<PatchImage>()>& read,
                                     const ApplyOptions& options);
  Status revert_locked(std::string_view id, const ApplyOptions& options);
  // Marks functions whose module was unloaded (or replaced by another at its address) since they
  // were recorded; cheap when the loader's counters did not move.
  void notice_unloaded_modules();

  image::ModuleGeneration generation_seen_{};
  std::mutex mutex_;
  PatchTable table_;
  EngineStats stats_;
  PatchLoader loader_;  // loaded patches stay loaded: a thread may still run them
};

}  // namespace hotpatch::engine
