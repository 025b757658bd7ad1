#!/usr/bin/env bash
# The robustness steps of CI: every fuzz target for 30 s, then the suite under ASan+UBSan and the
# threaded parts under TSan. About 35 minutes on 2 cores (see docs/performance.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
start=$SECONDS
# The long stress runs the default suite leaves out (10,000 CLI apply/revert cycles; 10,000
# in-process cycles with signal-blocking callers), side by side.
ctest --test-dir "${HOTPATCH_BUILD_DIR:-$root/build}" --output-on-failure -j"$(nproc)" -L long
echo "long stress: $((SECONDS - start)) s" >&2
# Real upstream fixes turned into live patches (Debian's redis source, built without them).
ctest --test-dir "${HOTPATCH_BUILD_DIR:-$root/build}" --output-on-failure -L realworld
echo "realworld: $((SECONDS - start)) s" >&2
"$root/scripts/fuzz.sh" "${HOTPATCH_FUZZ_SECONDS:-30}"
echo "fuzz: $((SECONDS - start)) s" >&2
"$root/scripts/sanitize.sh"
echo "ci-extra: $((SECONDS - start)) s" >&2
