// What a patch object says about itself, read without loading it.
#pragma once

#include <hotpatch/error.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hotpatch {

/// One function a patch replaces, as declared by HOTPATCH_REPLACE.
struct ManifestReplacement {
  std::string target_symbol;       ///< C name, mangled C++ name or demangled C++ signature
  std::string replacement_symbol;  ///< exported pointer in the patch that holds the new function
  /// The new function is `replacement_symbol` of one of the patch's embedded objects (a patch made
  /// by `hotpatch make-patch`), not a pointer the patch exports.
  bool from_object = false;
  std::size_t object = 0;  ///< with from_object: index into PatchManifest::objects
};

/// A relocatable object a patch carries (`hotpatch make-patch`), one per fixed unit: linked into the
/// process next to the target module, so its code reaches the module's statics as the module's
/// own code does.
struct ManifestObject {
  std::string symbol;                 ///< exported array holding the object's bytes
  std::uint64_t size = 0;             ///< its length
  std::string unit;                   ///< source file name of its unit: its statics are looked up there
  std::vector<std::string> sections;  ///< the sections to load; references elsewhere are the program's
};

/// One target symbol a patch reaches into, as declared by HOTPATCH_IMPORT.
struct ManifestImport {
  std::string target_symbol;
  std::string variable;  ///< the patch's pointer variable the runtime fills in
};

/// What a patch object says about itself (read from its `.hotpatch` section, without loading it).
struct PatchManifest {
  std::string id;
  std::uint32_t version = 0;
  std::string about;
  std::string target_build_id;  ///< lower-case hex GNU build-id of the module it was built for
  std::string target_module;    ///< file name of that module, for people (the build-id decides)
  std::vector<ManifestReplacement> replaces;
  std::vector<ManifestImport> imports;
  /// HOTPATCH_CONSISTENCY(stack): applied only when no thread has a replaced function on its stack.
  bool stack_consistency = false;
  std::vector<ManifestObject> objects;
};

/// Reads and validates the manifest of a patch file without running any of its code.
HOTPATCH_API Result<PatchManifest> read_patch_manifest(const std::string& path);

/// Parses the raw bytes of a `.hotpatch` section (exposed for tools and fuzzing).
HOTPATCH_API Result<PatchManifest> parse_patch_manifest(const void* data, std::size_t size);

}  // namespace hotpatch
