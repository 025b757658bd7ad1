// Hazard: caller threads that block every signal (as jemalloc's background thread and many
// "one thread takes signals" servers do) while another thread applies and reverts patches of the
// functions they call. A blocked SIGTRAP turns a temporary int3 into the kernel killing the whole
// process, and a blocked check signal makes the thread check unanswerable. Every apply and revert
// must succeed, every result be the old or the new version's, and the process live.
#include <hotpatch/runtime.hpp>

#include <gtest/gtest.h>

#include "stress_env.hpp"
#include "targets.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <pthread.h>
#include <string>
#include <thread>
#include <vector>

namespace {

using hptest::env_int;

TEST(SignalBlockingCallers, SurviveApplyAndRevertCycles) {
  const int cycles = env_int("HP_STRESS_CYCLES", 300);
  const int callers = env_int("HP_STRESS_CALLERS", 3);
  const std::string patch = std::string(HP_PATCH_DIR) + "/stress_pair.so";
  hotpatch::set_log_sink({});

  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::atomic<long> calls{0}, wrong{0}, saw_new{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      ready.fetch_add(1);
      long c = 0, w = 0, n = 0;
      for (int i = t; !stop.load(std::memory_order_relaxed); i += 7) {
        const int a = hp_split_entry(i);
        const int b = hp_c_add(i);
        const int p = hp_pause_entry(i);
        w += (a != i + 1 && a != i + 100) + (b != i + 1 && b != i + 100) + (p != i + 1 && p != i + 100);
        n += (a == i + 100);
        c += 3;
        // Some callers also sleep in the kernel now and then, so threads are found both running
        // and blocked in a system call.
        if (t == 0 && (i & 0x3fff) == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      calls += c;
      wrong += w;
      saw_new += n;
    });
  }
  while (ready.load() < callers) std::this_thread::yield();

  const auto before = hotpatch::engine_stats();
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
  stop = true;
  for (auto& t : threads) t.join();
  const auto after = hotpatch::engine_stats();
  std::printf("cycles=%d callers=%d calls=%ld wrong=%ld new_results=%ld held=%llu\n", cycles, callers, calls.load(),
              wrong.load(), saw_new.load(),
              static_cast<unsigned long long>(after.threads_held - before.threads_held));
  EXPECT_EQ(failures, 0) << first_failure;
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(saw_new.load(), 0) << "callers never ran the new version: the test proved nothing";
  EXPECT_GT(after.threads_held - before.threads_held, 0u) << "no signal-blocking caller was ever held";
  EXPECT_EQ(hp_c_add(1), 2);
}

}  // namespace
