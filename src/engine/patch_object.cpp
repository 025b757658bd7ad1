#include "engine/patch_object.hpp"

#include "engine/patch_validation.hpp"
#include "image/loadable_elf.hpp"
#include "image/module_list.hpp"
#include "os/linux/libc_loader.hpp"
#include "support/content_hash.hpp"
#include "support/unique_fd.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::engine {
namespace {

constexpr std::size_t kMaxPatchSize = 256u << 20;

Result<std::vector<std::uint8_t>> read_whole(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return make_error(ErrorCode::io, path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return make_error(ErrorCode::io, path, std::string("cannot stat: ") + std::strerror(errno));
  if (static_cast<std::size_t>(st.st_size) > kMaxPatchSize)
    return make_error(ErrorCode::too_large, path, "patch object is larger than 256 MiB");
  // Read straight into the buffer, sized by fstat and grown if the file grows meanwhile.
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size) + 1);
  std::size_t have = 0;
  for (;;) {
    if (have == bytes.size()) {
      if (bytes.size() > kMaxPatchSize) return make_error(ErrorCode::too_large, path, "patch object is larger than 256 MiB");
      bytes.resize(std::min(bytes.size() * 2, kMaxPatchSize + 1));
    }
    const ssize_t n = ::read(fd.get(), bytes.data() + have, bytes.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(ErrorCode::io, path, std::string("cannot read: ") + std::strerror(errno));
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
    // A regular file answers a read short only at its end: no further call needed to see it.
    if (S_ISREG(st.st_mode) && have < bytes.size()) break;
  }
  if (have > kMaxPatchSize) return make_error(ErrorCode::too_large, path, "patch object is larger than 256 MiB");
  bytes.resize(have);
  return bytes;
}

// Build-id of the object behind a dlopen handle, read from its loaded notes.
std::string loaded_build_id(void* handle) {
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr) return {};
  for (const auto& m : image::list_modules())
    if (m.base == map->l_addr && m.path == (map->l_name ? map->l_name : "")) return m.build_id;
  return {};
}

std::string dl_error() {
  const char* why = dlerror();
  return why != nullptr ? why : "unknown reason";
}

}  // namespace

Result<PatchManifest> manifest_of(const image::ElfFile& file) {
  auto section = file.section(".hotpatch");
  if (!section)
    return make_error(ErrorCode::malformed_patch, file.path(),
                      "has no .hotpatch section: not a hotpatch patch (build it with hotpatch_add_patch() or the "
                      "HOTPATCH_* macros of <hotpatch/patch.h>)");
  auto manifest = parse_patch_manifest(section->data(), section->size());
  if (!manifest) {
    Error e = manifest.error();
    e.subject = file.path();
    return e;
  }
  return manifest;
}

Result<std::vector<std::uint8_t>> read_patch_bytes(const std::string& path) {
  if (path.empty()) return make_error(ErrorCode::invalid_argument, "patch", "no patch file given");
  return read_whole(path);
}

Result<PatchImage> read_patch_image(const std::string& path) {
  HOTPATCH_LET(bytes, read_patch_bytes(path));
  return patch_image_from_bytes(std::move(bytes), path);
}

Result<std::shared_ptr<const PatchImage>> PatchImageCache::get(std::vector<std::uint8_t> bytes, const std::string& name) {
  for (auto it = recent_.begin(); it != recent_.end(); ++it) {
    const PatchImage& known = **it;
    if (known.path == name && known.elf.bytes() == bytes) {
      auto hit = *it;
      recent_.erase(it);
      recent_.push_back(hit);
      return hit;
    }
  }
  const std::size_t size = bytes.size();
  HOTPATCH_LET(image, patch_image_from_bytes(std::move(bytes), name));
  auto made = std::make_shared<const PatchImage>(std::move(image));
  if (size <= kMaxCachedBytes) {
    while (!recent_.empty() && (recent_.size() == kMaxEntries || cached_bytes_ + size > kMaxCachedBytes)) {
      cached_bytes_ -= recent_.front()->elf.bytes().size();
      recent_.erase(recent_.begin());
    }
    recent_.push_back(made);
    cached_bytes_ += size;
  }
  return made;
}

Result<PatchImage> patch_image_from_bytes(std::vector<std::uint8_t> bytes, const std::string& path) {
  if (bytes.size() > kMaxPatchSize) return make_error(ErrorCode::too_large, path, "patch object is larger than 256 MiB");
  auto elf = image::ElfFile::from_memory(std::move(bytes), path);
  if (!elf) {
    Error e = elf.error();
    e.message = "not a patch object: " + e.message;
    return e;
  }
  HOTPATCH_LET(manifest, manifest_of(*elf));
  // dlopen maps, relocates and runs constructors in one step: everything that could refuse the
  // patch afterwards is decided here, from the bytes, while none of its code has run.
  HOTPATCH_LET(loadable, image::check_loadable_elf(elf->bytes(), path));
  HOTPATCH_TRY(check_manifest_exports(loadable, manifest, path));
  std::string build_id = elf->build_id();
  std::string sha256 = support::sha256_hex(elf->bytes());
  return PatchImage{path, std::move(*elf), std::move(manifest), std::move(build_id), std::move(sha256)};
}

Result<void*> PatchLoader::load(const PatchImage& image, bool& fresh) {
  fresh = false;
  if (auto it = by_sha256_.find(image.sha256); it != by_sha256_.end()) return it->second;
  const std::string name = "hotpatch:" + image.manifest.id + ":v" + std::to_string(image.manifest.version);
  void* handle = nullptr;
  std::string memfd_failure;
  const int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd >= 0) {
    const auto& bytes = image.elf.bytes();
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    // Sealed before it is loaded: the mapped object can never differ from the bytes checked, even
    // through its /proc/self/fd path, for as long as the descriptor lives.
    const bool sealed = done == bytes.size() &&
                        ::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0;
    if (done == bytes.size() && !sealed) memfd_failure = std::string("cannot seal the memfd: ") + std::strerror(errno);
    if (sealed) {
      const std::string proc_path = "/proc/self/fd/" + std::to_string(fd);
      handle = os::real_dlopen(proc_path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle == nullptr) memfd_failure = dl_error();
    }
    // dlopen knows objects by name: the fd stays open so no later memfd gets this /proc path.
    if (handle != nullptr && !image.build_id.empty() && loaded_build_id(handle) != image.build_id) {
      os::real_dlclose(handle);
      handle = nullptr;
      memfd_failure = "dlopen returned another object";
    }
    if (handle == nullptr) ::close(fd);
    else memfds_[handle] = fd;
  } else {
    memfd_failure = std::string("memfd_create: ") + std::strerror(errno);
  }
  if (handle == nullptr) {
    // No memfd (or exec of it forbidden, vm.memfd_noexec): load the file through a descriptor whose
    // content is hashed first, so a file replaced or rewritten since it was checked is refused
    // rather than loaded unchecked. Only a writer of that very file, racing this call, could still
    // change it between the hash and the mapping.
    auto loaded = load_checked_file(image, memfd_failure);
    if (!loaded) return loaded.error();
    handle = *loaded;
  }
  fresh = true;
  by_sha256_[image.sha256] = handle;
  return handle;
}

Result<void*> PatchLoader::load_checked_file(const PatchImage& image, const std::string& memfd_failure) {
  const std::string from_memory = memfd_failure.empty() ? "" : " (from memory: " + memfd_failure + ")";
  const int fd = ::open(image.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(ErrorCode::load_failed, image.path,
                      std::string("cannot open the patch file to load it: ") + std::strerror(errno) + from_memory);
  std::vector<std::uint8_t> content;
  std::uint8_t buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || content.size() + static_cast<std::size_t>(n) > kMaxPatchSize) break;
    content.insert(content.end(), buf, buf + n);
  }
  if (support::sha256_hex(content) != image.sha256) {
    ::close(fd);
    return make_error(ErrorCode::load_failed, image.path,
                      "the file is not the content that was checked (it changed since)" + from_memory);
  }
  const std::string proc_path = "/proc/self/fd/" + std::to_string(fd);
  void* handle = os::real_dlopen(proc_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    ::close(fd);
    return make_error(ErrorCode::load_failed, image.path, "dlopen failed: " + dl_error() + from_memory);
  }
  // ld.so also knows objects by inode: a file loaded before and rewritten in place since would be
  // answered with the old object.
  const bool known = std::any_of(by_sha256_.begin(), by_sha256_.end(), [&](const auto& kv) { return kv.second == handle; });
  if (known || image.build_id.empty() || loaded_build_id(handle) != image.build_id) {
    if (!known) os::real_dlclose(handle);
    ::close(fd);
    return make_error(ErrorCode::load_failed, image.path,
                      "the loaded object is not the file that was checked (it changed, or another object was "
                      "loaded from that file before)");
  }
  memfds_[handle] = fd;
  return handle;
}

void PatchLoader::forget(void* handle) {
  std::erase_if(by_sha256_, [&](const auto& kv) { return kv.second == handle; });
  if (auto it = memfds_.find(handle); it != memfds_.end()) {
    ::close(it->second);
    memfds_.erase(it);
  }
}

}  // namespace hotpatch::engine
