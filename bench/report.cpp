// Reads the JSON that the benchmark programs wrote and prints one table: every figure next to its
// baseline as a ratio, and each goal of the performance plan as met or missed. Also writes the
// table's figures as JSON for tracking over time.
//   hp_bench_report <summary.json> <benchmark.json>...
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

std::vector<json> g_runs;
json g_context;
json g_summary = json::object();
int g_missed = 0;

double to_ns(double t, const std::string& unit) {
  if (unit == "us") return t * 1e3;
  if (unit == "ms") return t * 1e6;
  if (unit == "s") return t * 1e9;
  return t;
}

// The median of repetitions when there are some, else the single run.
const json* find(const std::string& base) {
  const json* single = nullptr;
  for (const auto& r : g_runs) {
    const std::string run = r.value("run_name", r.value("name", ""));
    if (run != base && run.rfind(base + "/", 0) != 0) continue;
    if (r.value("error_occurred", false)) {
      std::printf("  !! %s failed: %s\n", base.c_str(), r.value("error_message", "").c_str());
      return nullptr;
    }
    if (r.value("run_type", "") == "aggregate") {
      if (r.value("aggregate_name", "") == "median") return &r;
    } else if (single == nullptr) {
      single = &r;
    }
  }
  return single;
}

std::optional<double> time_ns(const std::string& base, const char* clock = "real_time") {
  const json* r = find(base);
  if (r == nullptr) return std::nullopt;
  return to_ns((*r)[clock].get<double>(), (*r)["time_unit"].get<std::string>());
}

// Call costs use CPU time: on a shared machine, wall time also counts the moments the benchmark
// thread was not running at all, which would swamp nanosecond differences.
std::optional<double> call_ns(const std::string& base) { return time_ns(base, "cpu_time"); }

std::optional<double> counter(const std::string& base, const std::string& name) {
  const json* r = find(base);
  if (r == nullptr || !r->contains(name)) return std::nullopt;
  return (*r)[name].get<double>();
}

std::string fmt_time(double ns) {
  char buf[64];
  if (ns < 1e3) std::snprintf(buf, sizeof buf, "%.2f ns", ns);
  else if (ns < 1e6) std::snprintf(buf, sizeof buf, "%.1f µs", ns / 1e3);
  else if (ns < 1e9) std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2f s", ns / 1e9);
  return buf;
}

void goal(const std::string& name, bool met, const std::string& figure) {
  std::printf("| %s | %s | %s |\n", name.c_str(), figure.c_str(), met ? "met" : "**missed**");
  g_summary["goals"].push_back({{"goal", name}, {"measured", figure}, {"met", met}});
  if (!met) ++g_missed;
}

void call_section() {
  std::printf("\n### Call overhead (CPU time per call, median of 5 repetitions)\n\n| variant | 20 ns function | ratio | trivial function | ratio |\n|---|---|---|---|---|\n");
  const char* variants[] = {"direct_replacement", "patched_original", "patched_padded", "atomic_pointer",
                            "unpatched_patchable", "unpatched_padded", "plain"};
  for (const char* v : variants) {
    std::string row = std::string("| ") + v;
    for (const char* f : {"work", "trivial"}) {
      const auto t = call_ns(std::string("call/") + f + "/" + v);
      const auto base = call_ns(std::string("call/") + f + "/direct_replacement");
      if (!t || !base) {
        row += " | – | –";
        continue;
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", *t / *base);
      row += " | " + fmt_time(*t) + " | " + buf;
      g_summary["call"][f][v] = {{"ns", *t}, {"ratio", *t / *base}};
    }
    std::printf("%s |\n", row.c_str());
  }
}

void apply_section() {
  std::printf("\n### Apply and revert (warm: patch already loaded once; cold: first dlopen)\n\n"
              "| functions | apply | resolve/validate | dlopen+bind | write | revert | cold apply | cold dlopen |\n"
              "|---|---|---|---|---|---|---|---|\n");
  for (int n : {1, 10, 100, 1000}) {
    const std::string a = "apply/" + std::to_string(n), r = "revert/" + std::to_string(n), c = "apply_cold/" + std::to_string(n);
    auto t = time_ns(a), rv = time_ns(r), cold = time_ns(c);
    auto us = [](std::optional<double> v) { return v ? fmt_time(*v * 1e3) : std::string("–"); };
    std::printf("| %d | %s | %s | %s | %s | %s | %s | %s |\n", n, t ? fmt_time(*t).c_str() : "–",
                us(counter(a, "resolve_us")).c_str(), us(counter(a, "load_us")).c_str(), us(counter(a, "write_us")).c_str(),
                rv ? fmt_time(*rv).c_str() : "–", cold ? fmt_time(*cold).c_str() : "–", us(counter(c, "load_us")).c_str());
    g_summary["apply"][std::to_string(n)] = {{"apply_ns", t.value_or(-1)},
                                             {"resolve_us", counter(a, "resolve_us").value_or(-1)},
                                             {"load_us", counter(a, "load_us").value_or(-1)},
                                             {"write_us", counter(a, "write_us").value_or(-1)},
                                             {"revert_ns", rv.value_or(-1)},
                                             {"cold_apply_ns", cold.value_or(-1)}};
  }
  const auto prim = time_ns("write/primitive"), seq = time_ns("write/int3_sequence");
  std::printf("\nBare write primitive (pwrite /proc/self/mem + membarrier SYNC_CORE): %s; "
              "the int3 sequence (3 of them): %s\n",
              prim ? fmt_time(*prim).c_str() : "–", seq ? fmt_time(*seq).c_str() : "–");
  g_summary["write"] = {{"primitive_ns", prim.value_or(-1)}, {"int3_sequence_ns", seq.value_or(-1)}};
}

// The stall benchmarks: functions without an entry pad (int3 protocol) and with one (pad protocol).
constexpr const char* kStallRuns[] = {"stall", "stall_padded"};

std::string stall_label(const std::string& run) { return run == "stall" ? "int3" : "pad"; }

void stall_section() {
  std::printf("\n### Call latency of workers, idle vs. while apply/revert loops (per iteration: 20 ns call + trivial call)\n\n"
              "int3: functions without an entry pad; pad: with a compiler-placed pad (no trap, no thread round).\n\n"
              "| entry | workers | phase | p50 | p99 | p99.9 | max | calls | cycles (µs each) | int3 traps |\n"
              "|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string run : kStallRuns)
  for (int w : {1, 2, 4}) {
    const std::string b = run + "/" + std::to_string(w);
    for (const char* phase : {"idle", "patching"}) {
      const std::string p = phase;
      auto v = [&](const char* k) { return counter(b, p + k).value_or(-1); };
      std::string cycles, traps;
      if (p == "patching") {
        cycles = std::to_string(long(counter(b, "cycles").value_or(0))) + " (" +
                 std::to_string(long(counter(b, "cycle_us").value_or(0))) + ")";
        traps = std::to_string(long(counter(b, "trap_redirects").value_or(0)));
      }
      std::printf("| %s | %d | %s | %s | %s | %s | %s | %.0f | %s | %s |\n", stall_label(run).c_str(), w, phase, fmt_time(v("_p50_ns")).c_str(),
                  fmt_time(v("_p99_ns")).c_str(), fmt_time(v("_p999_ns")).c_str(), fmt_time(v("_max_us") * 1e3).c_str(),
                  v("_calls"), cycles.c_str(), traps.c_str());
      g_summary[run][std::to_string(w)][p] = {{"p50_ns", v("_p50_ns")}, {"p99_ns", v("_p99_ns")},
                                                  {"p999_ns", v("_p999_ns")}, {"max_us", v("_max_us")}};
    }
  }
}

void other_section() {
  std::printf("\n### Symbols (100,000 functions) and registry\n\n| what | time |\n|---|---|\n");
  for (const char* b : {"symbols/first_use_mangled", "symbols/lookup_mangled", "symbols/first_use_demangled",
                        "symbols/lookup_demangled", "registry/index_verify_parse_10k", "registry/index_parse_only_10k",
                        "registry/update_poll_304"}) {
    const auto t = time_ns(b);
    std::printf("| %s | %s |\n", b, t ? fmt_time(*t).c_str() : "–");
    g_summary["other"][b] = t.value_or(-1);
  }
}

void goals_section() {
  std::printf("\n### Goals\n\n| goal | measured | |\n|---|---|---|\n");
  char buf[256];
  if (auto p = call_ns("call/work/patched_original"), d = call_ns("call/work/direct_replacement"); p && d) {
    std::snprintf(buf, sizeof buf, "%.3f (%s vs %s)", *p / *d, fmt_time(*p).c_str(), fmt_time(*d).c_str());
    goal("patched/direct call ratio <= 1.05 (20 ns function)", *p / *d <= 1.05, buf);
  }
  if (auto a = time_ns("apply/1"), load = counter("apply/1", "load_us"), prim = time_ns("write/primitive"),
      seq = time_ns("write/int3_sequence");
      a && load && prim && seq) {
    const double without_dlopen = *a - *load * 1e3;
    std::snprintf(buf, sizeof buf, "%s = %.1f× the primitive (%s); %.2f× the int3 sequence (%s)",
                  fmt_time(without_dlopen).c_str(), without_dlopen / *prim, fmt_time(*prim).c_str(),
                  without_dlopen / *seq, fmt_time(*seq).c_str());
    goal("one-function apply excluding dlopen <= 3× write primitive", without_dlopen <= 3 * *prim, buf);
  }
  if (auto a = time_ns("apply/1000"), cold = time_ns("apply_cold/1000"); a) {
    std::snprintf(buf, sizeof buf, "%s warm, %s cold (first dlopen)", fmt_time(*a).c_str(),
                  cold ? fmt_time(*cold).c_str() : "–");
    goal("1,000-function set <= 20 ms", *a <= 20e6 && (!cold || *cold <= 20e6), buf);
  }
  for (const std::string run : kStallRuns)
  for (int w : {1, 2, 4}) {
    const std::string b = run + "/" + std::to_string(w);
    auto idle = counter(b, "idle_p999_ns"), busy = counter(b, "patching_p999_ns");
    if (idle && busy) {
      std::snprintf(buf, sizeof buf, "%s vs %s idle (%.2f×)", fmt_time(*busy).c_str(), fmt_time(*idle).c_str(), *busy / *idle);
      goal("p99.9 during patching <= 2× idle, " + stall_label(run) + " entries, " + std::to_string(w) + " worker(s)",
           *busy <= 2 * *idle, buf);
    }
  }
  for (const std::string run : kStallRuns)
  for (int w : {1, 2, 4}) {
    const std::string b = run + "/" + std::to_string(w);
    auto busy = counter(b, "patching_max_us"), idle = counter(b, "idle_max_us");
    if (busy && idle) {
      std::snprintf(buf, sizeof buf, "max %s while patching (idle max %s)", fmt_time(*busy * 1e3).c_str(),
                    fmt_time(*idle * 1e3).c_str());
      goal("no worker blocked > 1 ms, " + stall_label(run) + " entries, " + std::to_string(w) + " worker(s)",
           *busy <= 1000, buf);
    }
  }
  for (const std::string run : kStallRuns)
  for (int w : {1, 2, 4}) {
    auto wrong = counter(run + "/" + std::to_string(w), "wrong"), failures = counter(run + "/" + std::to_string(w), "failures");
    if (wrong && failures && (*wrong != 0 || *failures != 0))
      goal("no wrong results or failed transactions during the stall run", false,
           std::to_string(long(*wrong)) + " wrong, " + std::to_string(long(*failures)) + " failed");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: hp_bench_report <summary.json> <benchmark.json>...\n");
    return 2;
  }
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i]);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 1;
    }
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded()) {
      std::fprintf(stderr, "%s is not JSON\n", argv[i]);
      return 1;
    }
    if (g_context.is_null()) g_context = j["context"];
    for (auto& r : j["benchmarks"]) g_runs.push_back(r);
  }
  std::printf("## hotpatch benchmarks\n\nMachine: %d × %.0f MHz CPU(s), %s\n", g_context.value("num_cpus", 0),
              g_context.value("mhz_per_cpu", 0.0), g_context.value("date", "?").c_str());
  call_section();
  apply_section();
  stall_section();
  other_section();
  goals_section();
  g_summary["context"] = g_context;
  std::ofstream(argv[1]) << g_summary.dump(2) << "\n";
  std::printf("\n%d goal(s) missed. Figures: %s\n", g_missed, argv[1]);
  return 0;
}
