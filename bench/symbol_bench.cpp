// Symbol lookup on a generated shared object with 100,000 functions gen::f<i>(int): the first use
// (read .symtab, build the name index), warm lookups by mangled name, and lookups by demangled C++
// signature (whose index is built on first need). Runs the engine's own image layer, compiled in.
#include "image/elf_file.hpp"
#include "image/symbol_index.hpp"

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

namespace {

constexpr long kSymbols = HP_BENCH_SYMBOL_COUNT;

hotpatch::LoadedModule g_module;

std::string mangled(long i) {
  const std::string name = "f" + std::to_string(i);
  return "_ZN3gen" + std::to_string(name.size()) + name + "Ei";
}
std::string demangled(long i) { return "gen::f" + std::to_string(i) + "(int)"; }

std::vector<long> random_indices() {
  std::mt19937 rng(42);
  std::uniform_int_distribution<long> pick(0, kSymbols - 1);
  std::vector<long> out(4096);
  for (auto& i : out) i = pick(rng);
  return out;
}

template <std::string (*Name)(long)>
void BM_FirstUse(benchmark::State& state) {
  const std::string name = Name(kSymbols - 1);
  for (auto _ : state) {
    hotpatch::image::clear_symbol_cache();
    auto r = hotpatch::image::resolve_symbol(g_module, name, hotpatch::image::SymbolKind::function);
    if (!r) {
      state.SkipWithError(r.error().what().c_str());
      return;
    }
    benchmark::DoNotOptimize(r->address);
  }
}

template <std::string (*Name)(long)>
void BM_Lookup(benchmark::State& state) {
  std::vector<std::string> names;
  for (long i : random_indices()) names.push_back(Name(i));
  if (!hotpatch::image::resolve_symbol(g_module, names[0], hotpatch::image::SymbolKind::function)) {
    state.SkipWithError("warm-up lookup failed");
    return;
  }
  std::size_t k = 0;
  for (auto _ : state) {
    auto r = hotpatch::image::resolve_symbol(g_module, names[k++ % names.size()], hotpatch::image::SymbolKind::function);
    if (!r) {
      state.SkipWithError(r.error().what().c_str());
      return;
    }
    benchmark::DoNotOptimize(r->address);
  }
}

}  // namespace

BENCHMARK(BM_FirstUse<mangled>)->Name("symbols/first_use_mangled")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Lookup<mangled>)->Name("symbols/lookup_mangled");
BENCHMARK(BM_FirstUse<demangled>)->Name("symbols/first_use_demangled")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Lookup<demangled>)->Name("symbols/lookup_demangled");

int main(int argc, char** argv) {
  auto file = hotpatch::image::ElfFile::open(HP_BENCH_SYMBOL_LIBRARY);
  if (!file) {
    std::fprintf(stderr, "%s\n", file.error().what().c_str());
    return 1;
  }
  g_module.path = HP_BENCH_SYMBOL_LIBRARY;
  g_module.name = "libhp_bench_symbols.so";
  g_module.build_id = file->build_id();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("symbols", std::to_string(kSymbols));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
