#!/usr/bin/env bash
# Builds hotpatch and runs the demo end to end: a signed registry, a running program patched to
# version 1, then upgraded to version 2 while it runs. Installs missing Debian packages first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HOTPATCH_BUILD_DIR:-$root/build}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target hotpatch-demo demo_registry hotpatch_cli
"$root/demo/run_story.sh" "$build"
echo
echo "Try it by hand: $build/demo/hotpatch-demo   (keys: u update, p patch, c quit)"
echo "Publish version 2 into its registry with:"
echo "  $build/tools/hotpatch publish --registry $build/demo/registry --key $build/demo/demo.key $build/demo/patches/greeting_v2.so"
