#include "attach/stack_walk.hpp"

#include <dlfcn.h>
#include <libunwind-ptrace.h>

namespace hotpatch::attach {
namespace {

// libunwind's remote unwinder, loaded when an attach first needs it: every other command of the
// tool starts without it. The API's names are macros over these exported ones.
struct Unwinder {
  unw_accessors_t* accessors = nullptr;
  void* (*upt_create)(pid_t) = nullptr;
  void (*upt_destroy)(void*) = nullptr;
  unw_addr_space_t (*create_addr_space)(unw_accessors_t*, int) = nullptr;
  void (*destroy_addr_space)(unw_addr_space_t) = nullptr;
  int (*init_remote)(unw_cursor_t*, unw_addr_space_t, void*) = nullptr;
  int (*get_reg)(unw_cursor_t*, int, unw_word_t*) = nullptr;
  int (*step)(unw_cursor_t*) = nullptr;
  const char* (*strerror)(int) = nullptr;
  int (*set_caching_policy)(unw_addr_space_t, unw_caching_policy_t) = nullptr;
  std::string error;
};

template <typename F>
bool find(void* lib, const char* name, F& out, std::string& error) {
  out = reinterpret_cast<F>(::dlsym(lib, name));
  if (out == nullptr && error.empty()) error = std::string("libunwind lacks ") + name;
  return out != nullptr;
}

const Unwinder& unwinder() {
  static const Unwinder u = [] {
    Unwinder w;
    // The ptrace library leaves the unwinder's own symbols to the global scope.
    void* core = ::dlopen("libunwind-x86_64.so.8", RTLD_NOW | RTLD_GLOBAL);
    void* ptrace = core != nullptr ? ::dlopen("libunwind-ptrace.so.0", RTLD_NOW | RTLD_LOCAL) : nullptr;
    if (core == nullptr || ptrace == nullptr) {
      const char* why = ::dlerror();
      w.error = std::string("libunwind could not be loaded (") + (why != nullptr ? why : "unknown") +
                "; install libunwind8)";
      return w;
    }
    find(ptrace, "_UPT_accessors", w.accessors, w.error);
    find(ptrace, "_UPT_create", w.upt_create, w.error);
    find(ptrace, "_UPT_destroy", w.upt_destroy, w.error);
    find(core, "_Ux86_64_create_addr_space", w.create_addr_space, w.error);
    find(core, "_Ux86_64_destroy_addr_space", w.destroy_addr_space, w.error);
    find(core, "_Ux86_64_init_remote", w.init_remote, w.error);
    find(core, "_Ux86_64_get_reg", w.get_reg, w.error);
    find(core, "_Ux86_64_step", w.step, w.error);
    find(core, "_Ux86_64_strerror", w.strerror, w.error);
    find(core, "_Ux86_64_set_caching_policy", w.set_caching_policy, w.error);
    return w;
  }();
  return u;
}

}  // namespace

StackWalker::StackWalker() {
  const Unwinder& u = unwinder();
  if (!u.error.empty()) {
    error_ = u.error;
    return;
  }
  unw_addr_space_t as = u.create_addr_space(u.accessors, 0);
  if (as == nullptr) {
    error_ = "libunwind could not make an address space";
    return;
  }
  u.set_caching_policy(as, UNW_CACHE_GLOBAL);
  address_space_ = as;
}

StackWalker::~StackWalker() {
  if (address_space_ != nullptr) unwinder().destroy_addr_space(static_cast<unw_addr_space_t>(address_space_));
}

StackWalk StackWalker::walk(pid_t tid, std::size_t max_frames) const {
  StackWalk walk;
  if (!error_.empty()) {
    walk.stopped_because = error_;
    return walk;
  }
  const Unwinder& u = unwinder();
  auto* as = static_cast<unw_addr_space_t>(address_space_);
  void* upt = u.upt_create(tid);
  unw_cursor_t cursor;
  if (upt == nullptr) {
    walk.stopped_because = "libunwind could not follow the thread";
  } else if (int rc = u.init_remote(&cursor, as, upt); rc != 0) {
    walk.stopped_because = std::string("libunwind could not start: ") + u.strerror(rc);
  } else {
    for (;;) {
      unw_word_t ip = 0;
      unw_word_t sp = 0;
      if (u.get_reg(&cursor, UNW_REG_IP, &ip) != 0 || u.get_reg(&cursor, UNW_REG_SP, &sp) != 0) {
        walk.stopped_because = "a frame's registers could not be read";
        break;
      }
      walk.frames.push_back({static_cast<std::uintptr_t>(ip), static_cast<std::uintptr_t>(sp)});
      if (walk.frames.size() >= max_frames) {
        walk.stopped_because = "more than " + std::to_string(max_frames) + " frames";
        break;
      }
      const int step = u.step(&cursor);
      if (step == 0) {
        walk.complete = true;
        break;
      }
      if (step < 0) {
        walk.stopped_because = "no frame information above frame " + std::to_string(walk.frames.size() - 1) + ": " +
                               u.strerror(step);
        break;
      }
    }
  }
  if (upt != nullptr) u.upt_destroy(upt);
  return walk;
}

}  // namespace hotpatch::attach
