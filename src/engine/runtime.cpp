// The public C++ API (runtime.hpp) over the engine.
#include <hotpatch/runtime.hpp>

#include "engine/engine.hpp"
#include "image/module_list.hpp"

namespace hotpatch {

std::vector<LoadedModule> loaded_modules() { return image::list_modules(); }

Result<AppliedPatch> apply_patch_file(const std::string& path, const ApplyOptions& options) {
  return engine::Engine::instance().apply(path, options);
}

Result<AppliedPatch> apply_patch_image(std::span<const std::uint8_t> bytes, const std::string& name,
                                      const ApplyOptions& options) {
  return engine::Engine::instance().apply(std::vector<std::uint8_t>(bytes.begin(), bytes.end()), name, options);
}

Status revert_patch(std::string_view patch_id, const ApplyOptions& options) {
  return engine::Engine::instance().revert(patch_id, options);
}

std::vector<PatchedFunction> patch_table() { return engine::Engine::instance().table(); }

std::vector<AppliedPatch> applied_patches() { return engine::Engine::instance().patches(); }

EngineStats engine_stats() { return engine::Engine::instance().stats(); }

}  // namespace hotpatch
