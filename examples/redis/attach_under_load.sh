#!/usr/bin/env bash
# hotpatch attach on Debian's redis-server started directly, without the runtime: under
# redis-benchmark load, attach, apply the GET patch, check GET, revert; redis-benchmark must see no
# error, and the server must be the same process throughout.
#   attach_under_load.sh HOTPATCH_CLI LIBHOTPATCH PATCH [INSTANCES] [CLIENTS]
# Prints the attach stall of each instance and "attach: N of M instances"; exits 1 unless all passed.
set -euo pipefail
cli=$1 lib=$2 patch=$3 count=${4:-3} clients=${5:-50}
work=$(mktemp -d)
export HOTPATCH_CONTROL_DIR=$work/control  # the servers' sockets, not in root's /run/hotpatch
mkdir -m 700 "$HOTPATCH_CONTROL_DIR"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ok=0
for i in $(seq 1 "$count"); do
  sock=$work/redis-$i.sock
  env -u LD_PRELOAD redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no --daemonize no \
    --logfile "$work/redis-$i.log" &
  server=$!
  pids+=("$server")
  for _ in $(seq 1 500); do [[ -S $sock ]] && break; sleep 0.01; done
  redis-benchmark -s "$sock" -c "$clients" -n 100000000 -t get,set -q >"$work/bench-$i.log" 2>&1 &
  bench=$!
  pids+=("$bench")
  sleep 0.3
  failed=""
  if grep -q hotpatch "/proc/$server/maps"; then failed="the runtime was loaded before attach"; fi
  if [[ -z $failed ]] && ! out=$("$cli" attach --pid "$server" --allow-unsigned --runtime "$lib" 2>&1); then
    failed="attach: $out"
  fi
  [[ -z $failed ]] && echo "instance $i: $(grep -o 'thread [0-9]* was held [0-9.]* ms[^;]*' <<<"$out")"
  if [[ -z $failed ]] && ! out=$("$cli" apply --pid "$server" --allow-unsigned "$patch" 2>&1); then
    failed="apply: $out"
  elif [[ -z $failed ]] && [[ $(redis-cli -s "$sock" SET hotpatch-key "v$i") != OK || $(redis-cli -s "$sock" GET hotpatch-key) != "v$i" ]]; then
    failed="GET through the patch gave the wrong answer"
  elif [[ -z $failed ]] && ! "$cli" status --pid "$server" | grep -q redis-get; then
    failed="status does not show the patch"
  elif [[ -z $failed ]] && ! out=$("$cli" revert --pid "$server" redis-get 2>&1); then
    failed="revert: $out"
  fi
  sleep 0.3
  kill "$bench" 2>/dev/null || true
  wait "$bench" 2>/dev/null || true
  if [[ -z $failed ]] && grep -qiE 'error|closed' "$work/bench-$i.log"; then
    failed="redis-benchmark saw errors: $(grep -iE 'error|closed' "$work/bench-$i.log" | head -3 | tr '\n' ' ')"
  fi
  if [[ -z $failed ]] && [[ $(redis-cli -s "$sock" INFO server | tr -d '\r' | sed -n 's/^process_id://p') != "$server" ]]; then
    failed="the server is not the same process"
  fi
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [[ -z $failed ]]; then ok=$((ok + 1)); else echo "instance $i: $failed"; fi
done
echo "attach: $ok of $count instances"
[[ $ok -eq $count ]]
