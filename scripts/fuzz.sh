#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, with clang-14, ASan+UBSan) and runs each for N seconds,
# nproc at a time, starting from the seed corpus in fuzz/corpus/<target>/ (copied, so the repo's
# seeds stay small). Prints executions, coverage and crashes per target; exits 1 on any crash.
#   scripts/fuzz.sh [seconds-per-target]      CI: 30; a real run: 600 or more
# Crash inputs land in build-fuzz/artifacts/; reproduce one with build-fuzz/fuzz_<target> <file>.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
build=${HOTPATCH_FUZZ_BUILD_DIR:-$root/build-fuzz}
"$root/scripts/install-deps.sh"
CC=clang-14 CXX=clang++-14 cmake -S "$root/fuzz" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

# ELF files and index documents are large inputs; the rest are lines and small files.
max_len() {
  case $1 in
    elf|patch_elf) echo 65536 ;;
    index) echo 65536 ;;
    *) echo 8192 ;;
  esac
}

run_one() {
  local t=$1 work=$build/corpus/$1 log=$build/logs/$1.log
  mkdir -p "$work" "$build/artifacts" "$build/logs"
  cp -n "$root/fuzz/corpus/$t/"* "$work/" 2>/dev/null || true
  # detect_leaks: parsers that fail halfway must not leak either.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/fuzz_$t" "$work" -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" >"$log" 2>&1
}

targets=()
for exe in "$build"/fuzz_*; do
  [[ -x $exe ]] && targets+=("$(basename "$exe" | sed 's/^fuzz_//')")
done
echo "fuzzing ${#targets[@]} targets for ${seconds}s each, $(nproc) at a time" >&2
pids=()
status=()
for t in "${targets[@]}"; do
  while [[ $(jobs -rp | wc -l) -ge $(nproc) ]]; do wait -n || true; done
  run_one "$t" &
done
wait || true

failed=0
printf '%-22s %12s %8s %8s %8s  %s\n' target execs exec/s cov features result
for t in "${targets[@]}"; do
  log=$build/logs/$t.log
  execs=$(grep -oP 'stat::number_of_executed_units: \K[0-9]+' "$log" || echo ?)
  rate=$(grep -oP 'stat::average_exec_per_sec: +\K[0-9]+' "$log" || echo ?)
  cov=$(grep -oP '#[0-9]+\s+(DONE|pulse|NEW|REDUCE|INITED)\s+cov: \K[0-9]+' "$log" | tail -1 || echo ?)
  ft=$(grep -oP '#[0-9]+\s+(DONE|pulse|NEW|REDUCE|INITED)\s+cov: [0-9]+ ft: \K[0-9]+' "$log" | tail -1 || echo ?)
  if grep -qE 'ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed|deadly signal' "$log"; then
    result="CRASH (see $log)"
    failed=1
  else
    result="ok, 0 crashes"
  fi
  printf '%-22s %12s %8s %8s %8s  %s\n' "$t" "$execs" "$rate" "$cov" "$ft" "$result"
done
exit $failed
