#!/usr/bin/env bash
# Another project uses an installed hotpatch: find_package(hotpatch), hotpatch::runtime,
# hotpatch_make_patchable() and hotpatch_add_patch() (examples/minimal, the README's example), and
# hotpatch_add_patch_from_diff() (examples/from_diff).
set -euo pipefail
build=$1
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/examples/minimal" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
out=$(LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64" HOTPATCH_LOG=off "$work/build/greeter" "$work/build/greeter_fix.so")
expected=$'hello world (1)\nGood day, dear world! (2)'
if [[ "$out" != "$expected" ]]; then
  echo "FAIL: expected:"; echo "$expected"; echo "got:"; echo "$out"; exit 1
fi
# A patch generated from a diff by hotpatch_add_patch_from_diff() (examples/from_diff).
cmake -S "$source_dir/examples/from_diff" -B "$work/from_diff" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/from_diff" >/dev/null
out=$(LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64" HOTPATCH_LOG=off "$work/from_diff/counter" "$work/from_diff/counter_fix.so")
expected=$'51\n22'
if [[ "$out" != "$expected" ]]; then
  echo "FAIL (from_diff): expected:"; echo "$expected"; echo "got:"; echo "$out"; exit 1
fi
echo "package consumer: ok"
