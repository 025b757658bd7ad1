#include "control/registry_library.hpp"

#include "os/linux/libc_loader.hpp"
#include "os/linux/memory_map.hpp"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::control {
namespace {

constexpr const char* subject = "registry library";

// The kernel's name for the file this code was mapped from: absolute, whatever path (relative,
// through a symlink) the loader was given.
Result<std::string> runtime_directory() {
  HOTPATCH_LET(maps, os::read_memory_map());
  auto m = os::mapping_of(maps, reinterpret_cast<std::uintptr_t>(&runtime_directory));
  if (!m || m->path.empty() || m->path.front() != '/') {
    return make_error(ErrorCode::io, subject, "cannot tell which file the runtime was loaded from");
  }
  if (m->path.ends_with(" (deleted)")) {
    return make_error(ErrorCode::io, subject,
                      "the runtime's file " + m->path + " was replaced on disk; its registry library cannot be matched to it");
  }
  return m->path.substr(0, m->path.rfind('/'));
}

Result<const RegistryLink*> load() {
  HOTPATCH_LET(dir, runtime_directory());
  const std::string path = dir + "/" + registry_library_file();
  // Opened once and loaded through that descriptor: the file checked is the file loaded.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int err = errno;
    return make_error(ErrorCode::io, path,
                      std::string("cannot be opened (") + std::strerror(err) +
                          "): a process configured for a registry needs the registry library of its runtime's build, "
                          "installed next to it");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::permission, path, "is not a regular file");
  }
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return make_error(ErrorCode::permission, path,
                      "belongs to uid " + std::to_string(st.st_uid) + ", neither root nor this process's user");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return make_error(ErrorCode::permission, path, "can be written by its group or by other users");
  }
  const std::string via = "/proc/self/fd/" + std::to_string(fd);
  void* handle = os::real_dlopen(via.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return make_error(ErrorCode::load_failed, path, std::string("cannot be loaded: ") + (why ? why : "unknown error"));
  }
  using Entry = const RegistryLink* (*)();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, registry_link_symbol));
  const RegistryLink* link = entry != nullptr ? entry() : nullptr;
  if (link == nullptr || link->size != sizeof(RegistryLink) || link->version == nullptr ||
      std::strcmp(link->version, HOTPATCH_VERSION_STRING) != 0 || link->open == nullptr) {
    const std::string found = link != nullptr && link->version != nullptr ? std::string("version ") + link->version
                                                                           : std::string("no registry link table");
    os::real_dlclose(handle);
    return make_error(ErrorCode::load_failed, path,
                      "is not the registry library of this runtime (" + found + ", the runtime is version " +
                          HOTPATCH_VERSION_STRING + ")");
  }
  return link;  // never closed: sessions and their threads run its code
}

}  // namespace

Result<const RegistryLink*> registry_link() {
  static std::mutex mutex;
  static const RegistryLink* loaded = nullptr;
  std::lock_guard lock(mutex);
  if (loaded != nullptr) return loaded;
  HOTPATCH_LET(link, load());
  loaded = link;
  return loaded;
}

}  // namespace hotpatch::control
