// The program's dlopen and dlclose pass through the runtime (it is preloaded or linked, so its
// definitions come before libc's in symbol lookup). Two guarantees rest on that:
//   - a library an applied patch targets that is loaded again gets its patch before the dlopen
//     that loaded it returns (the load listener runs after the loader is done, outside its lock);
//   - no library is unmapped while the engine writes code: dlclose waits for the write.
// A runtime loaded later with dlopen (injected into a running process) is not in front of libc:
// loader_hooks_in_place() says so, and the engine then notices loads and unloads at its next
// operation instead.
#pragma once

#include "os/linux/libc_loader.hpp"

#include <mutex>

namespace hotpatch::os {

/// Called after a dlopen that returned a handle, in the thread that called dlopen, unless that
/// dlopen ran inside another one (a constructor loading a library): the outer one reports.
using LoadListener = void (*)();
void set_load_listener(LoadListener listener);

/// While false, dlopen goes straight to libc's (a tail jump: nothing else runs).
void set_follow_loads(bool on);

/// Held while code in loaded modules is written and while the engine confirms those modules are
/// still there; dlclose through the runtime waits for it. The holder must not take the loader's
/// lock meanwhile (no dlopen, dlclose, dladdr): a constructor calling dlclose may be waiting here
/// while its thread holds it.
std::unique_lock<std::recursive_mutex> hold_module_unloads();

/// True when the program's dlopen is the runtime's (preloaded or linked before libc).
bool loader_hooks_in_place();

}  // namespace hotpatch::os
