#include "engine/stack_consistency.hpp"
#include "support/hex.hpp"

#include "os/linux/libc_loader.hpp"
#include "os/linux/task_status.hpp"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

namespace hotpatch::engine {
namespace {

// libunwind's local unwinder, by its exported names (the API's names are macros over them).
struct Unwinder {
  int (*init_local2)(unw_cursor_t*, unw_context_t*, int) = nullptr;
  int (*step)(unw_cursor_t*) = nullptr;
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*) = nullptr;
};

Unwinder g_unwinder;
std::once_flag g_unwinder_once;
std::string g_unwinder_error;

void load_unwinder() {
  void* lib = os::real_dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    g_unwinder_error = std::string("libunwind could not be loaded (") + (why ? why : "unknown") +
                       "); install libunwind8 to use the stack check";
    return;
  }
  Unwinder u;
  u.init_local2 = reinterpret_cast<decltype(u.init_local2)>(dlsym(lib, "_ULx86_64_init_local2"));
  u.step = reinterpret_cast<decltype(u.step)>(dlsym(lib, "_ULx86_64_step"));
  u.get_reg = reinterpret_cast<decltype(u.get_reg)>(dlsym(lib, "_ULx86_64_get_reg"));
  if (u.init_local2 == nullptr || u.step == nullptr || u.get_reg == nullptr) {
    g_unwinder_error = "libunwind.so.8 lacks unw_init_local2 (libunwind 1.3 or later is needed)";
    return;
  }
  g_unwinder = u;
}

// What the handlers look for, stable while a probe round runs (the engine's mutex serialises them).
std::vector<os::CodeRange> g_ranges;

bool in_checked(std::uintptr_t pc) {
  for (const auto& r : g_ranges)
    if (pc >= r.lo && pc < r.hi) return true;
  return false;
}

constexpr int kMaxFrames = 256;

// Runs in the check signal's handler, in the thread whose stack it walks.
int probe_own_stack(const void* interrupted, std::uintptr_t* pc) {
  unw_context_t context;  // on x86-64 the same layout as the ucontext the handler got
  static_assert(sizeof(unw_context_t) == sizeof(ucontext_t));
  std::memcpy(&context, interrupted, sizeof context);
  unw_cursor_t cursor;
  if (g_unwinder.init_local2(&cursor, &context, UNW_INIT_SIGNAL_FRAME) < 0) return -2;
  for (int frame = 0; frame < kMaxFrames; ++frame) {
    unw_word_t ip = 0;
    if (g_unwinder.get_reg(&cursor, UNW_REG_IP, &ip) < 0) return frame == 0 ? -2 : -1;
    // Above the first frame the IP is a return address: the call is the byte before it.
    if (in_checked(frame == 0 ? ip : ip - 1)) {
      *pc = ip;
      return frame;
    }
    if (g_unwinder.step(&cursor) <= 0) return -1;
  }
  return -1;
}

}  // namespace

Status wait_until_no_stack_uses(const std::vector<CheckedFunction>& functions, std::chrono::milliseconds deadline,
                                std::chrono::milliseconds thread_timeout) {
  std::call_once(g_unwinder_once, load_unwinder);
  if (g_unwinder.step == nullptr) return make_error(ErrorCode::function_in_use, "stack check", g_unwinder_error);
  g_ranges.clear();
  for (const auto& f : functions) g_ranges.push_back(f.code);
  const auto until = std::chrono::steady_clock::now() + deadline;
  auto pause = std::chrono::milliseconds(1);
  for (int attempt = 1;; ++attempt) {
    HOTPATCH_LET(found, os::probe_stacks(probe_own_stack, g_ranges, thread_timeout));
    if (!found) return {};
    if (std::chrono::steady_clock::now() + pause >= until) {
      std::string symbol = "?";
      for (const auto& f : functions)
        if ((found->frame == 0 ? found->pc : found->pc - 1) >= f.code.lo && (found->frame == 0 ? found->pc : found->pc - 1) < f.code.hi)
          symbol = f.symbol;
      return make_error(ErrorCode::function_in_use, os::describe_thread(found->tid),
                        "is inside " + symbol + " (frame #" + std::to_string(found->frame) + ", pc " + hex(found->pc) +
                            (found->from_scan ? ", a return address on the stack of a thread asleep in the kernel" : "") +
                            ") after " + std::to_string(attempt) + " look(s) over " + std::to_string(deadline.count()) +
                            " ms; the patch asks for the stack check, so nothing was written");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

}  // namespace hotpatch::engine
