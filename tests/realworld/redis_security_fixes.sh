#!/usr/bin/env bash
# Four upstream security fixes Debian ships for redis 7.0.15 (bookworm), each turned into a live
# patch by `hotpatch make-patch` from the fix's own diff in debian/patches, and applied to a running
# redis-server built from Debian's source package with every Debian patch but those four:
#   CVE-2025-32023  hyperloglog.c  out-of-bounds write from a corrupt sparse HLL   (PFCOUNT)
#   CVE-2024-51741  acl.c          malformed ACL selector accepted, crash later   (ACL SETUSER u %)
#   CVE-2026-66373  rdb.c          stream PEL entry shared by two consumers       (RESTORE)
#   CVE-2025-46817  Lua lbaselib.c (static luaB_unpack) and ltable.c (hidden luaH_getnum, inlined
#                   into its callers): unpack() with a huge range overflows the stack (EVAL)
# Each reproducer (from the fix's own test) is shown vulnerable on an unpatched server, then fixed on
# the patched one while redis-benchmark keeps it busy; the benchmark must see no error, the server
# keeps its PID; after the reverts the vulnerable behaviour is back.
#   redis_security_fixes.sh HOTPATCH_CLI LIBHOTPATCH
# HOTPATCH_REALWORLD_DIR keeps the source and build between runs (default: a fresh temporary one).
set -euo pipefail
cli=$1 lib=$2
here=$(cd "$(dirname "$0")" && pwd)
root=${HOTPATCH_REALWORLD_DIR:-}
keep=1
if [[ -z $root ]]; then
  root=$(mktemp -d)
  keep=0
fi
work=$(mktemp -d)
export HOTPATCH_CONTROL_DIR=$work/control  # the servers' sockets, not in root's /run/hotpatch
mkdir -m 700 "$HOTPATCH_CONTROL_DIR"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  [[ $keep -eq 1 ]] || rm -rf "$root"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
say() { echo "== $*"; }

fixes=(0006-CVE-2025-32023.patch 0002-Fix-Read-Write-key-pattern-selector-CVE-2024-51741-1.patch CVE-2026-66373.patch
  CVE-2025-46817.patch)
ids=(redis-cve-2025-32023 redis-cve-2024-51741 redis-cve-2026-66373 redis-cve-2025-46817)

# The source: Debian's package with its patches applied, then the fixes taken out again (a kept
# tree is named by the fixes it lacks).
tree=$root/redis-$(echo "${fixes[*]}" | sha1sum | cut -c1-8)
if [[ ! -x $tree/src/redis-server ]]; then
  say "apt-get source redis"
  "$here/../../scripts/debian-sources.sh"
  rm -rf "$root/download" "$tree"
  mkdir -p "$root/download"
  (cd "$root/download" && apt-get source -qq redis >/dev/null 2>&1) || fail "apt-get source redis failed"
  src=$(find "$root/download" -maxdepth 1 -type d -name 'redis-*' | head -1)
  [[ -n $src ]] || fail "apt-get source gave no redis tree"
  mv "$src" "$tree"
  for f in "${fixes[@]}"; do
    [[ -f $tree/debian/patches/$f ]] || fail "Debian's redis no longer carries $f"
  done
  for ((i = ${#fixes[@]} - 1; i >= 0; i--)); do
    (cd "$tree" && patch -R -s -p1 <"debian/patches/${fixes[i]}") || fail "cannot take ${fixes[i]} out"
  done
  say "building redis-server without the ${#fixes[@]} fixes (bear records the compile commands)"
  (cd "$tree" && bear -- make -j"$(nproc)" MALLOC=libc BUILD_TLS=no USE_SYSTEMD=no redis-server >"$root/build.log" 2>&1) ||
    fail "redis build failed: $(tail -5 "$root/build.log")"
fi
server_bin=$tree/src/redis-server

say "generating the ${#fixes[@]} live patches from the fixes' diffs"
for i in "${!fixes[@]}"; do
  "$cli" make-patch --source "$tree" --compile-commands "$tree/compile_commands.json" --target "$server_bin" \
    --diff "$tree/debian/patches/${fixes[i]}" --id "${ids[i]}" --patch-version 1 --about "${fixes[i]}" \
    -o "$work/${ids[i]}.so" >"$work/${ids[i]}.plan" 2>&1 || fail "make-patch ${fixes[i]}: $(cat "$work/${ids[i]}.plan")"
  sed -n '/changed functions/,/^[a-z]/p' "$work/${ids[i]}.plan" | sed '$d' | sed "s/^/  ${ids[i]}: /"
done

start_server() {  # start_server NAME -> pid in $server, socket in $sock
  sock=$work/$1.sock
  "$server_bin" --port 0 --unixsocket "$sock" --save '' --appendonly no --daemonize no --enable-debug-command yes \
    --logfile "$work/$1.log" &
  server=$!
  pids+=("$server")
  for _ in $(seq 1 500); do [[ -S $sock ]] && break; sleep 0.01; done
  [[ -S $sock ]] || fail "redis-server $1 did not start: $(tail -3 "$work/$1.log")"
}
rcli() { redis-cli -s "$sock" "$@" 2>&1; }

python3 - "$work/hll.bin" <<'PY'
import sys
# The fix's own test: a sparse HLL whose XZERO runs add up past 2^32, then a VAL opcode.
payload = b"HYLL" + bytes([1] + [0] * 11)
run = 16384 - 1
payload += bytes([0b01000000 | (run >> 8), run & 0xFF]) * (131072 + 1000) + bytes([0xFF])
open(sys.argv[1], "wb").write(payload)
PY
printf '\x0f\x01\x10\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x25\x25\x00\x00\x00\x0a\x00\x01\x01\x00\x01\x01\x01\x85\x66\x69\x65\x6c\x64\x06\x00\x01\x02\x01\x00\x01\x00\x01\x85\x76\x61\x6c\x75\x65\x06\x04\x01\xff\x01\x01\x00\x01\x07\x6d\x79\x67\x72\x6f\x75\x70\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x4a\x79\x89\x8f\x9f\x01\x00\x00\x01\x02\x09\x63\x6f\x6e\x73\x75\x6d\x65\x72\x41\x4a\x79\x89\x8f\x9f\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x09\x63\x6f\x6e\x73\x75\x6d\x65\x72\x42\x54\x79\x89\x8f\x9f\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x09\x00\xf6\xea\x7b\x6c\xb8\xb8\xd8\xb4' >"$work/stream.bin"

# Each reproducer prints what the server answered; "fixed" and "vulnerable" are judged from it.
repro_hll() { rcli -x SET hp-hll <"$work/hll.bin" >/dev/null; rcli PFCOUNT hp-hll hp-hll; }
repro_acl() { rcli ACL SETUSER hp-probe %; }
repro_stream() { rcli DEBUG SET-SKIP-CHECKSUM-VALIDATION 1 >/dev/null; rcli -x RESTORE hp-stream 0 <"$work/stream.bin"; }
# The fix's own test: unpack() of a range far past the table.
repro_lua() { rcli EVAL "return {unpack({1,2,3}, -2, 2147483647)}" 0; }
repro() { case $1 in 0) repro_hll ;; 1) repro_acl ;; 2) repro_stream ;; 3) repro_lua ;; esac; }
fixed_answer=("INVALIDOBJ" "Syntax error" "Bad data format" "too many results to unpack")

say "the vulnerabilities, on an unpatched server"
for i in "${!ids[@]}"; do
  start_server "vulnerable-$i"
  out=$(repro "$i" || true)  # the HLL and Lua ones take the server down
  [[ $out != *"${fixed_answer[i]}"* ]] || fail "${ids[i]}: the unpatched server already answers '$out'"
  echo "  ${ids[i]} unpatched: ${out:-(no answer: the server died)}"
  kill -9 "$server" 2>/dev/null || true
done

say "the server under load: attach, apply the ${#ids[@]} patches, reproduce"
start_server main
main=$server
redis-benchmark -s "$sock" -c 20 -n 100000000 -t get,set -q >"$work/bench.log" 2>&1 &
bench=$!
pids+=("$bench")
sleep 0.5
out=$("$cli" attach --pid "$main" --allow-unsigned --runtime "$lib" 2>&1) || fail "attach: $out"
echo "  $(grep -o 'thread [0-9]* was held [0-9.]* ms' <<<"$out")"
for i in "${!ids[@]}"; do
  out=$("$cli" apply --pid "$main" --allow-unsigned "$work/${ids[i]}.so" 2>&1) || fail "apply ${ids[i]}: $out"
  echo "  $out"
done
for i in "${!ids[@]}"; do
  out=$(repro "$i")
  [[ $out == *"${fixed_answer[i]}"* ]] || fail "${ids[i]}: the patched server answers '$out'"
  echo "  ${ids[i]} patched: $out"
done
[[ $(rcli PING) == PONG ]] || fail "the patched server does not answer PING"

say "revert: the vulnerable behaviour is back"
for i in "${!ids[@]}"; do
  out=$("$cli" revert --pid "$main" "${ids[i]}" 2>&1) || fail "revert ${ids[i]}: $out"
done
sleep 0.5
kill "$bench" 2>/dev/null || true
wait "$bench" 2>/dev/null || true
if grep -qiE 'error|closed' "$work/bench.log"; then
  fail "redis-benchmark saw errors: $(grep -iE 'error|closed' "$work/bench.log" | head -3)"
fi
[[ $(rcli INFO server | tr -d '\r' | sed -n 's/^process_id://p') == "$main" ]] || fail "the server is not the same process"
echo "  redis-benchmark: 0 errors; same PID $main"
out=$(repro_acl)
[[ $out != *"${fixed_answer[1]}"* ]] || fail "${ids[1]}: still fixed after the revert: '$out'"
echo "  ${ids[1]} reverted: $out"
out=$(repro_stream)
[[ $out != *"${fixed_answer[2]}"* ]] || fail "${ids[2]}: still fixed after the revert: '$out'"
echo "  ${ids[2]} reverted: $out"
out=$(repro_hll || true)
[[ $out != *"${fixed_answer[0]}"* ]] || fail "${ids[0]}: still fixed after the revert: '$out'"
echo "  ${ids[0]} reverted: ${out:-(no answer: the server died)}"

# The Lua reproducer also takes a reverted server down: its revert is shown on a server of its own.
say "${ids[3]} on a second server: attach, apply, revert"
start_server lua
out=$("$cli" attach --pid "$server" --allow-unsigned --runtime "$lib" 2>&1) || fail "attach: $out"
out=$("$cli" apply --pid "$server" --allow-unsigned "$work/${ids[3]}.so" 2>&1) || fail "apply ${ids[3]}: $out"
out=$(repro_lua)
[[ $out == *"${fixed_answer[3]}"* ]] || fail "${ids[3]}: the patched server answers '$out'"
out=$("$cli" revert --pid "$server" "${ids[3]}" 2>&1) || fail "revert ${ids[3]}: $out"
out=$(repro_lua || true)
[[ $out != *"${fixed_answer[3]}"* ]] || fail "${ids[3]}: still fixed after the revert: '$out'"
echo "  ${ids[3]} reverted: ${out:-(no answer: the server died)}"
echo "realworld redis: ${#ids[@]} of ${#ids[@]} fixes generated, applied live and reverted"
