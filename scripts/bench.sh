#!/usr/bin/env bash
# Builds the benchmarks and runs them all in one go: prints the table (with every goal met or
# missed) and writes the raw Google Benchmark JSON plus a summary JSON. Takes about 3 minutes.
#   scripts/bench.sh [output-dir]        (default: build-bench/bench-results)
# Extra Google Benchmark flags can be passed through HOTPATCH_BENCH_FLAGS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HOTPATCH_BENCH_BUILD_DIR:-$root/build-bench}
out=${1:-$build/bench-results}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOTPATCH_BUILD_BENCH=ON \
  -DHOTPATCH_BUILD_TESTS=OFF -DHOTPATCH_BUILD_DEMO=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target hotpatch_bench >&2
mkdir -p "$out"
bench=$build/bench
flags=(${HOTPATCH_BENCH_FLAGS:-})
export HOTPATCH_LOG=off
for program in engine symbols_lookup registry; do
  echo "== hp_bench_$program" >&2
  "$bench/hp_bench_$program" --benchmark_out="$out/$program.json" --benchmark_out_format=json \
    "${flags[@]}" >&2
done
"$bench/hp_bench_report" "$out/summary.json" "$out/engine.json" "$out/symbols_lookup.json" "$out/registry.json" \
  | tee "$out/table.md"
# The tool and a preloaded target as whole processes (HP_E2E_RUNS runs each, default 30).
echo "== hp_bench_e2e" >&2
mapfile -t e2e_args < "$bench/e2e_args.txt"
"$bench/hp_bench_e2e" "${e2e_args[@]}" "$out/e2e.json" "${HP_E2E_RUNS:-30}" | tee -a "$out/table.md"
