// A patch object from file to loaded code. The file is read once; its manifest is parsed from those
// bytes and the same bytes are what gets loaded (through a memfd), so the code that runs is the code
// that was checked even if the file changes meanwhile, and a rebuilt patch at the same path is not
// confused with the one dlopen already has under that name.
#pragma once

#include "image/elf_file.hpp"

#include <hotpatch/manifest.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hotpatch::engine {

struct PatchImage {
  std::string path;
  image::ElfFile elf;  ///< holds the bytes
  PatchManifest manifest;
  std::string build_id;  ///< the patch object's own build-id ("" when it has none)
  std::string sha256;    ///< lower-case hex SHA-256 of the exact bytes: the identity of this content
};

/// Reads the file (at most 256 MiB) and its manifest, and checks, before any of it can run, that
/// ld.so can load it safely and that it exports what its manifest names.
Result<PatchImage> read_patch_image(const std::string& path);

/// The same from bytes already in memory; `name` stands for the patch in messages.
Result<PatchImage> patch_image_from_bytes(std::vector<std::uint8_t> bytes, const std::string& name);

/// The bytes of a patch file (at most 256 MiB), read once.
Result<std::vector<std::uint8_t>> read_patch_bytes(const std::string& path);

/// Patch images made before, found again by their exact bytes: a patch applied, reverted and
/// applied again (the operator's daily cycle, or a poller offering the same entry) is parsed,
/// checked and hashed once. A hit compares every byte, so it is never a different content that
/// happens to share a size, a name or a hash.
class PatchImageCache {
 public:
  Result<std::shared_ptr<const PatchImage>> get(std::vector<std::uint8_t> bytes, const std::string& name);

 private:
  // A copy of each kept image's bytes lives in the patched process: its total is bounded, so a
  // few large patches do not stay resident for good (a typical patch is 17 KB to 0.5 MB).
  static constexpr std::size_t kMaxEntries = 8;
  static constexpr std::size_t kMaxCachedBytes = 16u << 20;  // larger patches are made each time
  std::vector<std::shared_ptr<const PatchImage>> recent_;    // most recently used last
  std::size_t cached_bytes_ = 0;
};

/// Manifest of an ELF file already opened.
Result<PatchManifest> manifest_of(const image::ElfFile& file);

/// Loads patch images, once per distinct content. Keyed by the SHA-256 of the bytes, not by the
/// build-id: a modified copy keeps its build-id, and must not be answered with the code loaded before.
class PatchLoader {
 public:
  /// dlopen handle for the image; `fresh` tells whether this call loaded it (so it may be closed
  /// again if the patch never became reachable).
  Result<void*> load(const PatchImage& image, bool& fresh);
  /// Forgets a handle that was closed after a refused apply.
  void forget(void* handle);

 private:
  Result<void*> load_checked_file(const PatchImage& image, const std::string& memfd_failure);

  std::map<std::string, void*> by_sha256_;
  std::map<void*, int> memfds_;  // kept open (memfd or file): dlopen knows the object by its /proc/self/fd path
};

}  // namespace hotpatch::engine
