#!/usr/bin/env bash
# The demo story as a user sees it: greetings before, version 1 after the first p, version 2 after
# version 2 is published and p is pressed again; nothing else printed in between.
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND exited with $?" >&2' ERR
here=$(cd "$(dirname "$0")" && pwd)
out=$("$here/../../demo/run_story.sh" "$1" 150 2>&1)
fail() { echo "FAIL: $*"; echo "$out"; exit 1; }
grep -q "^Hello, from C function! 42$" <<<"$out" || fail "no original C greeting"
grep -q "^Hello, from C++ member function! 42$" <<<"$out" || fail "no original member greeting"
grep -q "^Hello, from C++ virtual member function! 42$" <<<"$out" || fail "no original virtual greeting"
grep -q "Found patch for say_hello_c (version: 1): Greetings say the program is patched (version 1)" <<<"$out" || fail "u did not list version 1"
for s in "say_hello_c" "Greeter::greet(int) const"; do
  grep -qF "Patching $s to 1" <<<"$out" || fail "no 'Patching $s to 1'"
  grep -qF "Patched $s to 1" <<<"$out" || fail "no 'Patched $s to 1'"
  grep -qF "Patched $s to 2" <<<"$out" || fail "no 'Patched $s to 2'"
done
grep -q "^Completely patched! from C function! 42$" <<<"$out" || fail "version 1 text missing"
grep -q "^Completely patched (v2)! from C++ virtual member function! 42$" <<<"$out" || fail "version 2 text missing"
# Order: original text, then v1, then v2; no original greeting after the first patch.
first_v1=$(grep -m1 -n "^Completely patched! from C function" <<<"$out" | cut -d: -f1)
last_hello=$(grep -n "^Hello, from C function" <<<"$out" | tail -1 | cut -d: -f1)
first_v2=$(grep -m1 -n "^Completely patched (v2)! from C function" <<<"$out" | cut -d: -f1)
last_v1=$(grep -n "^Completely patched! from C function" <<<"$out" | tail -1 | cut -d: -f1)
(( last_hello < first_v1 )) || fail "original greeting printed after patching"
(( last_v1 < first_v2 )) || fail "version 1 printed after version 2"
grep -q "^Bye.$" <<<"$out" || fail "demo did not quit on c"
echo "demo story: ok"
