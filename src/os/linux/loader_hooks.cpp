#include "os/linux/loader_hooks.hpp"

#include "arch/x86_64/return_site_call.hpp"
#include "os/linux/libc_loader.hpp"
#include "os/linux/loaded_segments.hpp"
#include "os/linux/task_status.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <dlfcn.h>

namespace hotpatch::os {
namespace {

std::atomic<LoadListener> g_listener{nullptr};
thread_local int t_open_depth = 0;

std::recursive_mutex& unload_mutex() {
  static auto* m = new std::recursive_mutex;  // never destroyed: dlclose may run during exit
  return *m;
}

hp_open_fn resolve_real_dlopen() { return find_libc_dlopen(); }

bool shadow_stack_enabled() {
  static const bool on = [] {
    auto features = status_field(0, "x86_Thread_features:");
    return features && features->find("shstk") != std::string::npos;
  }();
  return on;
}

// A ret byte (0xc3) in the executable segment that holds the caller, or in the main program's
// code when no module holds it (glibc then takes the main program for the caller).
const void* ret_byte_for(std::uintptr_t caller) {
  auto seg = segment_containing(caller);
  if (!seg || !seg->executable) {
    seg = main_program_code();
    if (!seg) return nullptr;
    caller = seg->lo;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(caller);
  if (const void* hit = std::memchr(p, 0xc3, seg->hi - caller)) return hit;
  return std::memchr(reinterpret_cast<const void*>(seg->lo), 0xc3, caller - seg->lo);
}

void* open_as(const void* caller, const char* file, int mode) {
  hp_open_fn real = resolve_real_dlopen();
  if (real == nullptr) {
    errno = ENOSYS;
    return nullptr;
  }
  if (!shadow_stack_enabled()) {
    if (const void* ret = ret_byte_for(reinterpret_cast<std::uintptr_t>(caller))) return hp_call_returning_through(real, file, mode, ret);
  }
  // Without a ret byte to return through, libc sees the runtime as the caller: names are then
  // searched without the caller's RUNPATH. Reached only with a shadow stack enabled.
  return real(file, mode);
}

}  // namespace

void set_load_listener(LoadListener listener) { g_listener.store(listener); }

std::unique_lock<std::recursive_mutex> hold_module_unloads() { return std::unique_lock(unload_mutex()); }

}  // namespace hotpatch::os

extern "C" {
void* hp_dlopen_entry(const char*, int) __attribute__((visibility("hidden")));
int hp_dlclose_entry(void*) __attribute__((visibility("hidden")));
}

namespace hotpatch::os {

bool loader_hooks_in_place() {
  // What the program's own lookups find, not what this library binds to.
  return dlsym(RTLD_DEFAULT, "dlopen") == reinterpret_cast<void*>(&hp_dlopen_entry) &&
         dlsym(RTLD_DEFAULT, "dlclose") == reinterpret_cast<void*>(&hp_dlclose_entry);
}

}  // namespace hotpatch::os

extern "C" {

// Read by the dlopen entry below without a lock: a stale false only skips the listener for a load
// that raced with the first apply, which the engine notices at its next operation.
__attribute__((visibility("hidden"))) volatile unsigned char hp_follow_loads = 0;
// libc's dlopen once known; until then the entry takes the C++ path, which finds it.
__attribute__((visibility("hidden"))) hp_open_fn volatile hp_real_dlopen_ptr = nullptr;

__attribute__((visibility("hidden"))) void* hp_dlopen_following(const char* file, int mode) {
  const void* caller = __builtin_return_address(0);  // reached by a jump from dlopen: the program's caller
  if (hp_real_dlopen_ptr == nullptr) hp_real_dlopen_ptr = hotpatch::os::resolve_real_dlopen();
  ++hotpatch::os::t_open_depth;
  void* handle = hotpatch::os::open_as(caller, file, mode);
  --hotpatch::os::t_open_depth;
  if (handle != nullptr && hotpatch::os::t_open_depth == 0 && hp_follow_loads != 0) {
    if (auto listener = hotpatch::os::g_listener.load()) {
      const int saved = errno;
      listener();
      errno = saved;
    }
  }
  return handle;
}

// dlclose waits while code is being written: the module it unmaps may be one being written to.
__attribute__((visibility("hidden"))) int hp_dlclose_entry(void* handle) {
  auto guard = hotpatch::os::hold_module_unloads();
  return hotpatch::os::real_dlclose(handle);
}

}  // extern "C"

namespace hotpatch::os {
void set_follow_loads(bool on) { hp_follow_loads = on ? 1 : 0; }
}  // namespace hotpatch::os

// dlopen itself: with nothing to follow, a tail jump to libc's keeps the program's return address
// for libc to read; otherwise the C++ side above, reached by a jump for the same reason.
asm(R"(
        .text
        .globl  dlopen
        .type   dlopen, @function
        .globl  hp_dlopen_entry
        .hidden hp_dlopen_entry
dlopen:
hp_dlopen_entry:
        .cfi_startproc
        endbr64
        cmpb    $0, hp_follow_loads(%rip)
        jne     hp_dlopen_following
        mov     hp_real_dlopen_ptr(%rip), %rax
        test    %rax, %rax
        jz      hp_dlopen_following
        jmp     *%rax
        .cfi_endproc
        .size   dlopen, .-dlopen

        .globl  dlclose
        .type   dlclose, @function
        .set    dlclose, hp_dlclose_entry
)");
