#!/usr/bin/env bash
# Builds hotpatch and runs the test suite (everything but the soak, the long stress runs and the
# real-world fixes, which
# scripts/ci-extra.sh runs). Installs missing
# Debian packages first. Extra arguments go to ctest, e.g. scripts/test.sh -L stress
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HOTPATCH_BUILD_DIR:-$root/build}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
if [[ $# -gt 0 ]]; then
  exec ctest --output-on-failure "$@"
fi
exec ctest --output-on-failure -j"$(nproc)" -LE 'soak|long|realworld'
