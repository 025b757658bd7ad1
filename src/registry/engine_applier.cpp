// The registry client's default view of the process: the hotpatch engine itself.
#include <hotpatch/registry.hpp>
#include <hotpatch/runtime.hpp>

#include <algorithm>

namespace hotpatch {

PatchApplier engine_applier() {
  PatchApplier a;
  a.loaded_build_ids = [] {
    std::vector<std::string> ids;
    for (const auto& m : loaded_modules()) {
      if (!m.build_id.empty()) ids.push_back(m.build_id);
    }
    return ids;
  };
  a.applied_version = [](std::string_view id) {
    std::uint32_t best = 0;
    for (const auto& p : applied_patches()) {
      if (p.manifest.id == id) best = std::max(best, p.manifest.version);
    }
    return best;
  };
  a.apply = [](const VerifiedPatch& patch) -> Status {
    // The signed index vouches for the bytes under an id and version; the engine refuses a patch
    // whose own manifest claims anything else, so one signed blob cannot pose as another patch.
    ApplyOptions options;
    options.expect_id = patch.id;
    options.expect_version = patch.version;
    auto applied = apply_patch_image(patch.bytes, patch.name, options);
    if (!applied) return applied.error();
    return {};
  };
  return a;
}

}  // namespace hotpatch
