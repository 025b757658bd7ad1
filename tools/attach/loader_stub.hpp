// The loader thread's code (loader_stub.S) and the block it works from, as laid out in the
// process. Offsets are fixed by the assembly; the static_asserts keep the two in step.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" const unsigned char hp_loader_stub_begin[];
extern "C" const unsigned char hp_loader_stub_end[];

namespace hotpatch::attach {

struct LoaderBlock {
  std::uint64_t pthread_self = 0, pthread_detach = 0, dlopen = 0, dlsym = 0, dlerror = 0;
  std::uint64_t thread = 0;  ///< pthread_create's pthread_t
  std::uint64_t state = 0;   ///< 0 running, 1 started (see result), 2 dlopen failed, 3 no entry symbol
  std::uint64_t tid = 0;     ///< the loader thread
  std::uint64_t result = 0;  ///< hotpatch_attach_start's answer: "" or why not
  char path[1024] = {};
  char symbol[64] = {};
  char message[1024] = {};   ///< dlerror's text
  char config[6000] = {};
};

static_assert(offsetof(LoaderBlock, state) == 48);
static_assert(offsetof(LoaderBlock, tid) == 56);
static_assert(offsetof(LoaderBlock, result) == 64);
static_assert(offsetof(LoaderBlock, path) == 72);
static_assert(offsetof(LoaderBlock, symbol) == 1096);
static_assert(offsetof(LoaderBlock, message) == 1160);
static_assert(offsetof(LoaderBlock, config) == 2184);

enum LoaderState : std::uint64_t { loader_running = 0, loader_started = 1, loader_dlopen_failed = 2, loader_no_entry = 3 };

}  // namespace hotpatch::attach
