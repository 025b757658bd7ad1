// Engine benchmarks, side by side in one run: call overhead, apply/revert latency by patch-set size
// (with the engine's own resolve/load/write split), the bare code-write primitive, and call latency
// of worker threads while patches go in and out (stall).
#include "work.h"

#include <hotpatch/runtime.hpp>

#include <benchmark/benchmark.h>

#include <csignal>
#include <cstdlib>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>
#include <x86intrin.h>

extern "C" int hp_gen_f0(int x);

namespace {

using Clock = std::chrono::steady_clock;

const std::string kPatchDir = HP_BENCH_PATCH_DIR;

std::string gen_patch(long n) { return kPatchDir + "/gen_" + std::to_string(n) + ".so"; }
std::string gen_id(long n) { return "gen-" + std::to_string(n); }

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// ---------------------------------------------------------------------------------------------
// Call overhead. The function is a template argument, so every call is a direct `call`.

template <int (*F)(int)>
void BM_Call(benchmark::State& state) {
  int x = 0;
  for (auto _ : state) {
    x = F(x);
    benchmark::DoNotOptimize(x);
  }
}

// The alternative to code patching: every call site loads a function pointer that a patch swaps.
std::atomic<int (*)(int)> g_work_pointer{hp_bench_work_direct};
std::atomic<int (*)(int)> g_trivial_pointer{hp_bench_trivial_direct};

template <std::atomic<int (*)(int)>* P>
void BM_CallPointer(benchmark::State& state) {
  int x = 0;
  for (auto _ : state) {
    x = P->load(std::memory_order_acquire)(x);
    benchmark::DoNotOptimize(x);
  }
}

// The patches the patched-call variants apply: functions without an entry pad, and with one.
constexpr char kCallPatchFile[] = "call_patch.so";
constexpr char kCallPatchId[] = "call-patch";
constexpr char kPaddedPatchFile[] = "padded_patch.so";
constexpr char kPaddedPatchId[] = "padded-patch";

template <int (*F)(int), int (*Expected)(int), const char* Patch = kCallPatchFile, const char* Id = kCallPatchId>
void BM_CallPatched(benchmark::State& state) {
  auto applied = hotpatch::apply_patch_file(kPatchDir + "/" + Patch);
  if (!applied) {
    state.SkipWithError(applied.error().what().c_str());
    return;
  }
  if (F(12345) != Expected(12345)) state.SkipWithError("the patch did not take effect");
  int x = 0;
  for (auto _ : state) {
    x = F(x);
    benchmark::DoNotOptimize(x);
  }
  (void)hotpatch::revert_patch(Id);
}

// ---------------------------------------------------------------------------------------------
// Apply and revert of generated patch sets.

struct Split {
  double resolve_ns = 0, load_ns = 0, write_ns = 0;
};

Split delta(const hotpatch::EngineStats& a, const hotpatch::EngineStats& b) {
  return {double(b.resolve_ns - a.resolve_ns), double(b.load_ns - a.load_ns), double(b.write_ns - a.write_ns)};
}

void set_split(benchmark::State& state, const Split& sum, double n) {
  state.counters["resolve_us"] = sum.resolve_ns / n / 1e3;
  state.counters["load_us"] = sum.load_ns / n / 1e3;
  state.counters["write_us"] = sum.write_ns / n / 1e3;
}

// One timed apply of the n-function set: adds its resolve/load/write split to `sum`; false (with the
// benchmark marked as failed) when the engine refused it.
bool timed_apply(benchmark::State& state, long n, Split& sum) {
  const auto before = hotpatch::engine_stats();
  const auto t0 = Clock::now();
  auto applied = hotpatch::apply_patch_file(gen_patch(n));
  const auto t1 = Clock::now();
  if (!applied) {
    state.SkipWithError(applied.error().what().c_str());
    return false;
  }
  const Split d = delta(before, hotpatch::engine_stats());
  sum.resolve_ns += d.resolve_ns, sum.load_ns += d.load_ns, sum.write_ns += d.write_ns;
  state.SetIterationTime(seconds_between(t0, t1));
  return true;
}

// The first apply of a patch file: a real dlopen (the engine keeps patches loaded afterwards).
void BM_ApplyCold(benchmark::State& state) {
  const long n = state.range(0);
  Split sum;
  for (auto _ : state) {
    if (!timed_apply(state, n, sum)) return;
    if (hp_gen_f0(5) != ((5 ^ 0x1000) * 3 + 0 + 1)) state.SkipWithError("the patch did not take effect");
    (void)hotpatch::revert_patch(gen_id(n));
  }
  set_split(state, sum, double(state.iterations()));
}

void BM_Apply(benchmark::State& state) {
  const long n = state.range(0);
  Split sum;
  for (auto _ : state) {
    if (!timed_apply(state, n, sum)) return;
    if (auto s = hotpatch::revert_patch(gen_id(n)); !s) {
      state.SkipWithError(s.error().what().c_str());
      return;
    }
  }
  set_split(state, sum, double(state.iterations()));
}

void BM_Revert(benchmark::State& state) {
  const long n = state.range(0);
  Split sum;
  for (auto _ : state) {
    if (auto applied = hotpatch::apply_patch_file(gen_patch(n)); !applied) {
      state.SkipWithError(applied.error().what().c_str());
      return;
    }
    const auto before = hotpatch::engine_stats();
    const auto t0 = Clock::now();
    auto s = hotpatch::revert_patch(gen_id(n));
    const auto t1 = Clock::now();
    if (!s) {
      state.SkipWithError(s.error().what().c_str());
      return;
    }
    const Split d = delta(before, hotpatch::engine_stats());
    sum.write_ns += d.write_ns;
    state.SetIterationTime(seconds_between(t0, t1));
  }
  set_split(state, sum, double(state.iterations()));
}

// ---------------------------------------------------------------------------------------------
// The primitive the engine writes code with: pwrite to /proc/self/mem, then membarrier SYNC_CORE.
// The victim gets its own bytes back, so nothing changes but the cost is the real one.

struct ProcMem {
  int fd = ::open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  ~ProcMem() {
    if (fd >= 0) ::close(fd);
  }
};

bool write_and_sync(int fd, std::uintptr_t at, const std::uint8_t* bytes, std::size_t n) {
  if (::pwrite(fd, bytes, n, static_cast<off_t>(at)) != static_cast<ssize_t>(n)) return false;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) == 0;
}

void BM_WritePrimitive(benchmark::State& state) {
  ProcMem mem;
  const auto at = reinterpret_cast<std::uintptr_t>(&hp_bench_victim);
  std::uint8_t bytes[5];
  std::memcpy(bytes, reinterpret_cast<const void*>(at), sizeof bytes);
  for (auto _ : state) {
    if (!write_and_sync(mem.fd, at, bytes, 5)) {
      state.SkipWithError("pwrite(/proc/self/mem) or membarrier failed");
      return;
    }
  }
}

// What any safe entry rewrite needs at least: int3, sync, bytes 1..4, sync, byte 0, sync.
void BM_Int3Sequence(benchmark::State& state) {
  ProcMem mem;
  const auto at = reinterpret_cast<std::uintptr_t>(&hp_bench_victim);
  std::uint8_t bytes[5];
  std::memcpy(bytes, reinterpret_cast<const void*>(at), sizeof bytes);
  for (auto _ : state) {
    if (!write_and_sync(mem.fd, at, bytes, 1) || !write_and_sync(mem.fd, at + 1, bytes + 1, 4) ||
        !write_and_sync(mem.fd, at, bytes, 1)) {
      state.SkipWithError("pwrite(/proc/self/mem) or membarrier failed");
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Stall: workers call patched functions and time every iteration with the TSC; first with nothing
// happening (idle), then while another thread applies and reverts a patch of those functions.

double g_ns_per_tick = 0;

void calibrate_tsc() {
  const auto t0 = Clock::now();
  const std::uint64_t c0 = __rdtsc();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::uint64_t c1 = __rdtsc();
  const auto t1 = Clock::now();
  g_ns_per_tick = std::chrono::duration<double, std::nano>(t1 - t0).count() / double(c1 - c0);
}

// Log-linear histogram of TSC ticks: exact below 1024, then 64 buckets per power of two (<1.6% error).
class Histogram {
 public:
  void add(std::uint64_t v) {
    ++buckets_[index(v)];
    ++count_;
    max_ = std::max(max_, v);
  }
  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
  }
  std::uint64_t count() const { return count_; }
  double max_ns() const { return double(max_) * g_ns_per_tick; }
  double quantile_ns(double q) const {
    const auto rank = static_cast<std::uint64_t>(q * double(count_));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen > rank) return double(value(i)) * g_ns_per_tick;
    }
    return max_ns();
  }

 private:
  static constexpr std::size_t kLinear = 1024, kSub = 64;
  static std::size_t index(std::uint64_t v) {
    if (v < kLinear) return v;
    const int msb = 63 - __builtin_clzll(v);
    return kLinear + std::size_t(msb - 10) * kSub + ((v >> (msb - 6)) & (kSub - 1));
  }
  static std::uint64_t value(std::size_t i) {
    if (i < kLinear) return i;
    const std::size_t msb = (i - kLinear) / kSub + 10, sub = (i - kLinear) % kSub;
    return (std::uint64_t{1} << msb) + (std::uint64_t(sub) << (msb - 6));
  }
  std::array<std::uint64_t, kLinear + 54 * kSub> buckets_{};
  std::uint64_t count_ = 0, max_ = 0;
};

void set_latency(benchmark::State& state, const std::string& phase, const Histogram& h) {
  state.counters[phase + "_p50_ns"] = h.quantile_ns(0.5);
  state.counters[phase + "_p99_ns"] = h.quantile_ns(0.99);
  state.counters[phase + "_p999_ns"] = h.quantile_ns(0.999);
  state.counters[phase + "_max_us"] = h.max_ns() / 1e3;
  state.counters[phase + "_calls"] = double(h.count());
}

// What the workers call and the patch that goes in and out: functions without an entry pad (the
// int3 protocol) or with one (the pad protocol).
struct StallSubject {
  int (*work)(int);
  int (*trivial)(int);
  const char* patch;  // file in the patch directory
  const char* id;
};
constexpr StallSubject kInt3Subject{hp_bench_work, hp_bench_trivial, "call_patch.so", "call-patch"};
constexpr StallSubject kPaddedSubject{hp_bench_work_padded, hp_bench_trivial_padded, "padded_patch.so", "padded-patch"};

template <const StallSubject* S>
void BM_Stall(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const std::string patch = kPatchDir + "/" + S->patch;
  const auto phase_length = std::chrono::milliseconds(1500);
  for (auto _ : state) {
    std::atomic<int> phase{0};  // 0 warm-up, 1 idle, 2 patching, 3 stop
    std::vector<std::array<Histogram, 2>> hist(workers);
    std::atomic<long> wrong{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        long bad = 0;
        std::uint64_t prev = __rdtsc();
        for (int i = w;; i += 3) {
          const int p = phase.load(std::memory_order_relaxed);
          if (p == 3) break;
          benchmark::DoNotOptimize(S->work(i));
          const int t = S->trivial(i);
          bad += t != hp_bench_trivial_plain(i) && t != hp_bench_trivial_direct(i);
          const std::uint64_t now = __rdtsc();
          if (p != 0) hist[w][p - 1].add(now - prev);
          prev = now;
        }
        wrong += bad;
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    phase = 1;
    std::this_thread::sleep_for(phase_length);
    phase = 2;
    long cycles = 0, failures = 0;
    const auto stats_before = hotpatch::engine_stats();
    const auto until = Clock::now() + phase_length;
    while (Clock::now() < until) {
      failures += !hotpatch::apply_patch_file(patch);
      failures += !hotpatch::revert_patch(S->id);
      ++cycles;
    }
    phase = 3;
    for (auto& t : threads) t.join();
    const auto stats_after = hotpatch::engine_stats();
    // Callers that hit the temporary int3 (each one a SIGTRAP round trip) explain most of the
    // latency while patching; the thread rounds explain the rest.
    state.counters["trap_redirects"] = double(stats_after.trap_redirects - stats_before.trap_redirects);
    state.counters["threads_relocated"] = double(stats_after.threads_relocated - stats_before.threads_relocated);
    state.counters["safety_rounds"] = double(stats_after.safety_rounds - stats_before.safety_rounds);
    state.counters["pad_writes"] = double(stats_after.pad_writes - stats_before.pad_writes);
    state.counters["cycle_us"] = cycles ? double(std::chrono::duration_cast<std::chrono::microseconds>(phase_length).count()) / double(cycles) : 0;
    Histogram idle, patching;
    for (auto& h : hist) {
      idle.merge(h[0]);
      patching.merge(h[1]);
    }
    set_latency(state, "idle", idle);
    set_latency(state, "patching", patching);
    state.counters["cycles"] = double(cycles);
    state.counters["wrong"] = double(wrong.load());
    state.counters["failures"] = double(failures);
    state.SetIterationTime(1);
  }
}

}  // namespace

#define HP_REPEATED ->Repetitions(5)->ReportAggregatesOnly(true)
BENCHMARK(BM_Call<hp_bench_work_direct>)->Name("call/work/direct_replacement") HP_REPEATED;
BENCHMARK(BM_CallPatched<hp_bench_work, hp_bench_work_direct>)->Name("call/work/patched_original") HP_REPEATED;
BENCHMARK(BM_CallPointer<&g_work_pointer>)->Name("call/work/atomic_pointer") HP_REPEATED;
BENCHMARK(BM_Call<hp_bench_work>)->Name("call/work/unpatched_patchable") HP_REPEATED;
BENCHMARK(BM_Call<hp_bench_work_plain>)->Name("call/work/plain") HP_REPEATED;
BENCHMARK(BM_CallPatched<hp_bench_work_padded, hp_bench_work_direct, kPaddedPatchFile, kPaddedPatchId>)
    ->Name("call/work/patched_padded") HP_REPEATED;
BENCHMARK(BM_Call<hp_bench_work_padded>)->Name("call/work/unpatched_padded") HP_REPEATED;
BENCHMARK(BM_Call<hp_bench_trivial_direct>)->Name("call/trivial/direct_replacement") HP_REPEATED;
BENCHMARK(BM_CallPatched<hp_bench_trivial, hp_bench_trivial_direct>)->Name("call/trivial/patched_original") HP_REPEATED;
BENCHMARK(BM_CallPointer<&g_trivial_pointer>)->Name("call/trivial/atomic_pointer") HP_REPEATED;
BENCHMARK(BM_Call<hp_bench_trivial>)->Name("call/trivial/unpatched_patchable") HP_REPEATED;
BENCHMARK(BM_Call<hp_bench_trivial_plain>)->Name("call/trivial/plain") HP_REPEATED;
BENCHMARK(BM_CallPatched<hp_bench_trivial_padded, hp_bench_trivial_direct, kPaddedPatchFile, kPaddedPatchId>)
    ->Name("call/trivial/patched_padded") HP_REPEATED;
BENCHMARK(BM_Call<hp_bench_trivial_padded>)->Name("call/trivial/unpatched_padded") HP_REPEATED;

BENCHMARK(BM_WritePrimitive)->Name("write/primitive") HP_REPEATED;
BENCHMARK(BM_Int3Sequence)->Name("write/int3_sequence") HP_REPEATED;

BENCHMARK(BM_ApplyCold)->Name("apply_cold")->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Iterations(1)->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Apply)->Name("apply")->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Revert)->Name("revert")->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_Stall<&kInt3Subject>)->Name("stall")->Arg(1)->Arg(2)->Arg(4)->Iterations(1)->UseManualTime()
    ->Unit(benchmark::kSecond);
BENCHMARK(BM_Stall<&kPaddedSubject>)->Name("stall_padded")->Arg(1)->Arg(2)->Arg(4)->Iterations(1)->UseManualTime()
    ->Unit(benchmark::kSecond);

int main(int argc, char** argv) {
  hotpatch::set_log_sink({});
  // The engine registers this on its first write; the bare-primitive benchmarks may run first.
  syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0);
  calibrate_tsc();
  // HP_BENCH_CATCH_SIGNALS=1: the program handles a signal of its own (as servers do), so every
  // thread check also looks for handler frames (README, Limits).
  if (const char* c = std::getenv("HP_BENCH_CATCH_SIGNALS"); c != nullptr && *c == '1') {
    struct sigaction a {};
    a.sa_handler = [](int) {};
    sigaction(SIGUSR1, &a, nullptr);
    benchmark::AddCustomContext("catches_signals", "SIGUSR1");
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("tsc_ns_per_tick", std::to_string(g_ns_per_tick));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
