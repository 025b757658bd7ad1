// Soak: 8 caller threads make at least 10^7 calls each across 16 patched functions while the main
// thread runs 10^4 cycles of two overlapping multi-function patch sets (apply A, apply B stacked
// over it, revert both in alternating order). Passes when nothing crashed, every result is one
// that some version of its function computes, every transaction succeeded, and resident memory
// after warm-up stays flat. Sizes: HP_SOAK_CALLERS, HP_SOAK_CALLS (per caller), HP_SOAK_CYCLES.
#include "soak_targets.h"

#include <hotpatch/runtime.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atol(v) : fallback;
}

long resident_kib() {
  long size = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "re")) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

using Fn = int (*)(int);
#define HP_SOAK_ADDRESS(k) hp_soak_f##k,
const Fn kFunctions[16] = {HP_SOAK_FOR_EACH(HP_SOAK_ADDRESS)};

bool plausible(int k, int x, int r) {
  const int base = HP_SOAK_VALUE(x, k);
  return r == base || (k <= 11 && r == base + 1000) || (k >= 4 && r == base + 2000);
}

}  // namespace

int main() {
  const long callers = env_long("HP_SOAK_CALLERS", 8);
  const long calls_each = env_long("HP_SOAK_CALLS", 10'000'000);
  const long cycles = env_long("HP_SOAK_CYCLES", 10'000);
  const std::string dir = HP_SOAK_PATCH_DIR;
  hotpatch::set_log_sink({});

  std::atomic<bool> patcher_done{false};
  std::atomic<long> calls{0}, wrong{0}, patched_results{0};
  std::vector<std::thread> threads;
  for (long t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      long c = 0, w = 0, p = 0;
      // Keep calling until both the quota is met and the patcher is done, so every cycle runs under load.
      for (int i = static_cast<int>(t) * 7919; c < calls_each || !patcher_done.load(std::memory_order_relaxed); ++i) {
        const int k = i & 15;
        const int x = i >> 4;
        const int r = kFunctions[k](x);
        if (!plausible(k, x, r)) {
          if (w++ == 0) std::fprintf(stderr, "wrong result: f%d(%d) = %d\n", k, x, r);
        }
        p += r != HP_SOAK_VALUE(x, k);
        ++c;
      }
      calls += c;
      wrong += w;
      patched_results += p;
    });
  }

  const auto started = std::chrono::steady_clock::now();
  long failures = 0, rss_warm = 0, rss_max_after_warm = 0;
  const long warm_up = cycles / 10;
  auto check = [&](const hotpatch::Status& s) {
    if (!s && failures++ < 5) std::fprintf(stderr, "transaction failed: %s\n", s.error().what().c_str());
  };
  for (long i = 0; i < cycles; ++i) {
    auto a = hotpatch::apply_patch_file(dir + "/set_a.so");
    check(a ? hotpatch::Status{} : hotpatch::Status{a.error()});
    auto b = hotpatch::apply_patch_file(dir + "/set_b.so");
    check(b ? hotpatch::Status{} : hotpatch::Status{b.error()});
    if (i % 2 == 0) {
      check(hotpatch::revert_patch("soak-b"));
      check(hotpatch::revert_patch("soak-a"));
    } else {
      check(hotpatch::revert_patch("soak-a"));
      check(hotpatch::revert_patch("soak-b"));
    }
    if (i == warm_up) rss_warm = resident_kib();
    if (i > warm_up) rss_max_after_warm = std::max(rss_max_after_warm, resident_kib());
    if (i % 1000 == 999)
      std::printf("cycle %ld: %.1f s, RSS %ld KiB\n", i + 1,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), resident_kib());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  patcher_done = true;
  for (auto& t : threads) t.join();

  const auto stats = hotpatch::engine_stats();
  const long growth = rss_max_after_warm - rss_warm;
  // Reverted patches stay loaded and their records are small: anything beyond a few hundred KiB over
  // 10^4 cycles would be a leak per cycle.
  const long allowed_growth_kib = 1024;
  std::printf("callers=%ld calls=%ld patched_results=%ld wrong=%ld cycles=%ld failures=%ld seconds=%.1f "
              "cycle_ms=%.2f rss_warm_kib=%ld rss_growth_kib=%ld relocated=%llu trap_redirects=%llu\n",
              callers, calls.load(), patched_results.load(), wrong.load(), cycles, failures, seconds,
              seconds * 1e3 / double(cycles), rss_warm, growth,
              static_cast<unsigned long long>(stats.threads_relocated),
              static_cast<unsigned long long>(stats.trap_redirects));
  bool ok = true;
  auto expect = [&](bool cond, const char* what) {
    if (!cond) {
      std::fprintf(stderr, "FAILED: %s\n", what);
      ok = false;
    }
  };
  expect(wrong.load() == 0, "every result comes from the original or a patch version");
  expect(failures == 0, "every apply and revert succeeds");
  expect(calls.load() >= callers * calls_each, "every caller made its calls");
  expect(patched_results.load() > 0, "callers ran patched code (else the soak proved nothing)");
  expect(cycles < 20 || growth <= allowed_growth_kib, "resident memory stays flat after warm-up");
  for (int k = 0; k < 16; ++k) expect(kFunctions[k](5) == HP_SOAK_VALUE(5, k), "all reverted at the end");
  return ok ? 0 : 1;
}
