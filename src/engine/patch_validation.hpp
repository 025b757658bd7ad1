// What the manifest promises about the patch object, checked from its ELF before dlopen runs any of
// its code: every replacement pointer and import variable the manifest names is exported.
#pragma once

#include "image/loadable_elf.hpp"

#include <hotpatch/manifest.hpp>

#include <string>

namespace hotpatch::engine {

/// Each replaces[i].replacement_symbol and imports[i].variable must be an exported 8-byte data
/// object inside the object's loaded image (imports in writable memory, since the engine stores
/// into them). Errors are ErrorCode::malformed_patch with the symbol as subject.
Status check_manifest_exports(const image::LoadableElf& elf, const PatchManifest& manifest, const std::string& name);

}  // namespace hotpatch::engine
