// Hazard: a library is unloaded and loaded again (sometimes at another address, sometimes with
// another library where it was) while another thread applies and reverts a patch of it. No write
// may land in a library that is not the one recorded, a copy loaded while the patch is applied
// must run the patched version as soon as dlopen returns, and one loaded while it is reverted its
// own code.
#include <hotpatch/runtime.hpp>

#include <gtest/gtest.h>

#include "stress_env.hpp"

#include <atomic>
#include <chrono>
#include <dlfcn.h>
#include <string>
#include <thread>

namespace {

using hptest::env_int;
using Fn = int (*)(int);

TEST(PluginReload, PatchFollowsAndNothingElseIsWritten) {
  const int cycles = env_int("HP_STRESS_CYCLES", 200);
  const std::string patch = std::string(HP_PLUGIN_PATCH_DIR) + "/plugin_v1.so";
  hotpatch::set_log_sink({});

  // Even while the toggler is between states, odd while a transaction runs.
  std::atomic<unsigned> phase{0};
  std::atomic<bool> applied{false}, stop{false};
  std::atomic<long> not_loaded{0}, errors{0};
  std::string first_error;
  std::thread toggler([&] {
    for (int i = 0; i < cycles; ++i) {
      phase.fetch_add(1);
      auto a = hotpatch::apply_patch_file(patch);
      if (a) applied = true;
      else if (a.error().code == hotpatch::ErrorCode::wrong_build) ++not_loaded;
      else if (errors++ == 0) first_error = a.error().what();
      phase.fetch_add(1);
      if (!applied) {
        std::this_thread::sleep_for(std::chrono::microseconds(300));  // until the plugin is loaded again
        continue;
      }
      // Loads in between see it applied; every third time it stays long enough to outlast even a
      // long-loaded copy (the loader holds one for 10 ms every fourth time).
      std::this_thread::sleep_for(std::chrono::milliseconds(i % 3 == 0 ? 15 : 2));
      phase.fetch_add(1);
      auto r = hotpatch::revert_patch("plugin");
      if (r) applied = false;
      else if (errors++ == 0) first_error = r.error().what();
      phase.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stop = true;
  });

  long loads = 0, followed = 0, own_code = 0, wrong = 0, moved = 0, other_intact = 0;
  std::uintptr_t last_address = 0;
  while (!stop) {
    // Every third round another library takes the plugin's place first, so the plugin moves.
    void* other = nullptr;
    if (loads % 3 == 2) other = dlopen(HP_PLUGIN_OTHER, RTLD_NOW | RTLD_LOCAL);
    const unsigned before = phase.load();
    const bool was_applied = applied.load();
    void* handle = dlopen(HP_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle, nullptr) << dlerror();
    auto fn = reinterpret_cast<Fn>(dlsym(handle, "hp_plugin_value"));
    const int v = fn(1);
    const bool steady = before % 2 == 0 && phase.load() == before;
    if (reinterpret_cast<std::uintptr_t>(fn) != last_address) ++moved;
    last_address = reinterpret_cast<std::uintptr_t>(fn);
    if (v != 2 && v != 101) ++wrong;
    if (steady && was_applied) {
      if (v == 101) ++followed;
      else ++wrong;
    } else if (steady) {
      if (v == 2) ++own_code;
      else ++wrong;
    }
    // Loaded for about a millisecond, calling all along, and every fourth time for 10 ms, long
    // enough for a slow apply (a sanitizer build) to find it loaded.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(loads % 4 == 0 ? 10000 : 800);
    for (int k = 0; std::chrono::steady_clock::now() < until; ++k) {
      const int w = fn(k);
      if (w != k + 1 && w != k + 100) ++wrong;
    }
    ++loads;
    ASSERT_EQ(dlclose(handle), 0);
    if (other != nullptr) {
      auto ofn = reinterpret_cast<Fn>(dlsym(other, "hp_plugin_value"));
      if (ofn(1) == 10) ++other_intact;
      else ++wrong;
      dlclose(other);
    }
  }
  toggler.join();
  (void)hotpatch::revert_patch("plugin");
  EXPECT_EQ(wrong, 0) << "results that are neither version's, or the wrong one for the state";
  EXPECT_EQ(errors, 0) << first_error;
  EXPECT_GT(followed, 0) << "no copy was loaded while the patch was applied";
  EXPECT_GT(own_code, 0) << "no copy was loaded while the patch was reverted";
  std::printf("%d cycles: %ld loads (%ld at a new address), %ld followed the patch, %ld ran their own code, "
              "%ld applies found the plugin unloaded, %ld other-library checks\n",
              cycles, loads, moved, followed, own_code, not_loaded.load(), other_intact);
}

}  // namespace
