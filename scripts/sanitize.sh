#!/usr/bin/env bash
# Runs the test suite under sanitizers, one build directory each (g++, RelWithDebInfo):
#   build-asan  ASan+UBSan, the whole suite but the soak and the end-to-end integration tests
#   build-tsan  TSan, the threaded parts: registry client, control endpoint, engine stress
#   scripts/sanitize.sh [asan|tsan]...     (default: both)
# Why the options below:
# - The engine rewrites code through /proc/self/mem and runs its own SIGTRAP and thread-check
#   handlers; ASan leaves those signals alone, so no handler option is needed. Its leak check does
#   run: patches are dlopen'ed on purpose for the life of the process, which LSan does not count.
# - LSan: scripts/lsan.supp names the two allocations the engine keeps for the life of the process
#   on purpose (see there).
# - verify_asan_link_order=0: the control tests start programs with LD_PRELOAD=libhotpatch.so; the
#   ASan runtime is already linked into those programs, so its "must come first" check is moot.
# - UBSan stops at the first error (halt_on_error), so a finding fails the test that found it.
#   -fno-sanitize=vptr: the vptr check makes a patch that touches a target class reference the
#   class's typeinfo (_ZTI...), which an executable does not export, so dlopen of the patch fails.
# - engine_stress_full (10^4 cycles, label stress) is left to the normal build: under ASan it takes
#   longer than the rest of the suite together; engine_stress_short runs.
# - TSan runs the labels registry and control (registry client and poller, control endpoint and its
#   clients) and the engine tests that race the patch table (fork during apply). Not the stress
#   tests: TSan puts a call to __tsan_func_entry at every function entry, and the engine rightly
#   refuses entries with a call in their first bytes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kinds=("$@")
[[ ${#kinds[@]} -eq 0 ]] && kinds=(asan tsan)
"$root/scripts/install-deps.sh"
jobs=$(nproc)

configure_and_build() {
  local dir=$1 flags=$2
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOTPATCH_BUILD_BENCH=OFF -DHOTPATCH_BUILD_DEMO=OFF \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" -DCMAKE_MODULE_LINKER_FLAGS="$flags" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
}

status=0
for kind in "${kinds[@]}"; do
  case $kind in
    asan)
      dir=${HOTPATCH_ASAN_BUILD_DIR:-$root/build-asan}
      echo "== ASan+UBSan build in $dir" >&2
      configure_and_build "$dir" "-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
      (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0 \
        LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure -j"$jobs" -LE 'soak|integration|demo|long|realworld' -E engine_stress_full --timeout 900) || status=1
      ;;
    tsan)
      dir=${HOTPATCH_TSAN_BUILD_DIR:-$root/build-tsan}
      echo "== TSan build in $dir" >&2
      configure_and_build "$dir" "-fsanitize=thread -fno-omit-frame-pointer"
      (cd "$dir" && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        ctest --output-on-failure -j"$jobs" -L 'registry|control' -LE 'soak|integration|long' --timeout 900) || status=1
      ;;
    *) echo "unknown sanitizer '$kind' (asan, tsan)" >&2; exit 2 ;;
  esac
done
exit $status
