#include "os/linux/libc_loader.hpp"

#include <dlfcn.h>

namespace hotpatch::os {

// The default versions first: what a program built against this libc calls.
LibcOpenFn find_libc_dlopen() {
  if (void* f = dlvsym(RTLD_NEXT, "dlopen", "GLIBC_2.34")) return reinterpret_cast<LibcOpenFn>(f);
  return reinterpret_cast<LibcOpenFn>(dlsym(RTLD_NEXT, "dlopen"));
}

LibcCloseFn find_libc_dlclose() {
  if (void* f = dlvsym(RTLD_NEXT, "dlclose", "GLIBC_2.34")) return reinterpret_cast<LibcCloseFn>(f);
  return reinterpret_cast<LibcCloseFn>(dlsym(RTLD_NEXT, "dlclose"));
}

void* real_dlopen(const char* file, int mode) {
  static const LibcOpenFn real = find_libc_dlopen();
  return real != nullptr ? real(file, mode) : nullptr;
}

int real_dlclose(void* handle) {
  static const LibcCloseFn real = find_libc_dlclose();
  return real != nullptr ? real(handle) : -1;
}

}  // namespace hotpatch::os
