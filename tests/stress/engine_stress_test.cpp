// Callers hammer patched functions while another thread applies and reverts them as fast as it can.
// Every result must be the old version's or the new version's; any crash fails the run. More caller
// threads than cores, so callers are preempted inside the bytes being overwritten; the engine's
// counters show how often a caller was moved out of them or caught by the temporary int3.
#include <hotpatch/runtime.hpp>

#include <gtest/gtest.h>

#include "stress_env.hpp"
#include "targets.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using hptest::env_int;

TEST(EngineStress, CallersSeeOnlyOldOrNewWhileApplyAndRevertLoop) {
  const int cycles = env_int("HP_STRESS_CYCLES", 2000);
  const int callers = env_int("HP_STRESS_CALLERS", 6);
  const bool require_races = env_int("HP_STRESS_REQUIRE_RACES", 0) != 0;
  const std::string patch = std::string(HP_PATCH_DIR) + "/stress_pair.so";
  hotpatch::set_log_sink({});

  std::atomic<bool> stop{false};
  std::atomic<long> calls{0}, wrong{0}, saw_new{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      long c = 0, w = 0, n = 0;
      for (int i = t; !stop.load(std::memory_order_relaxed); i += 7) {
        const int a = hp_split_entry(i);
        const int b = hp_c_add(i);
        const int p = hp_pause_entry(i);
        w += (a != i + 1 && a != i + 100) + (b != i + 1 && b != i + 100) + (p != i + 1 && p != i + 100);
        n += (a == i + 100);
        c += 3;
      }
      calls += c;
      wrong += w;
      saw_new += n;
    });
  }
  const auto before = hotpatch::engine_stats();
  const auto started = std::chrono::steady_clock::now();
  int failures = 0;
  std::string first_failure;
  for (int i = 0; i < cycles; ++i) {
    auto applied = hotpatch::apply_patch_file(patch);
    if (!applied) {
      if (failures++ == 0) first_failure = applied.error().what();
      continue;
    }
    auto reverted = hotpatch::revert_patch("stress-pair");
    if (!reverted && failures++ == 0) first_failure = reverted.error().what();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  stop = true;
  for (auto& t : threads) t.join();
  const auto after = hotpatch::engine_stats();

  const auto relocated = after.threads_relocated - before.threads_relocated;
  const auto trapped = after.trap_redirects - before.trap_redirects;
  std::printf("cycles=%d callers=%d calls=%ld wrong=%ld new_results=%ld seconds=%.2f apply+revert_us=%.1f "
              "rounds=%llu relocated=%llu trap_redirects=%llu\n",
              cycles, callers, calls.load(), wrong.load(), saw_new.load(), seconds, seconds * 1e6 / cycles,
              static_cast<unsigned long long>(after.safety_rounds - before.safety_rounds),
              static_cast<unsigned long long>(relocated), static_cast<unsigned long long>(trapped));
  EXPECT_EQ(failures, 0) << first_failure;
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(saw_new.load(), 0) << "callers never ran the new version: the test proved nothing";
  EXPECT_EQ(hp_split_entry(1), 2);
  EXPECT_EQ(hp_c_add(1), 2);
  EXPECT_EQ(hp_pause_entry(1), 2);
  if (require_races) {
    EXPECT_GT(relocated, 0u) << "no caller was ever caught inside the overwritten bytes";
    EXPECT_GT(trapped, 0u) << "no caller ever hit the temporary int3";
  }
}

}  // namespace
