#!/usr/bin/env bash
# The first apply into fresh redis-servers under load. Each instance is Debian's redis-server with
# its defaults (jemalloc's background thread, which blocks every signal), preloaded with the runtime,
# serving redis-benchmark; the patch is applied once it is under load, GET is checked, the patch is
# reverted, and the benchmark must see no error.
#   first_apply.sh HOTPATCH_CLI LIBHOTPATCH PATCH [INSTANCES] [CLIENTS]
# Prints one line per failure and "first apply: N of M instances" ; exits 1 unless all succeeded.
set -euo pipefail
cli=$1 lib=$2 patch=$3 count=${4:-10} clients=${5:-50}
work=$(mktemp -d)
export HOTPATCH_CONTROL_DIR=$work/control
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
  HOTPATCH_CONTROL=1 HOTPATCH_ALLOW_UNSIGNED=1 HOTPATCH_LOG=off LD_PRELOAD=$lib redis-server --port 0 --unixsocket "$sock" \
    --save '' --appendonly no --daemonize no --logfile "$work/redis-$i.log" &
  server=$!
  pids+=("$server")
  for _ in $(seq 1 500); do
    [[ -S $sock ]] && "$cli" status --pid "$server" >/dev/null 2>&1 && break
    sleep 0.01
  done
  redis-benchmark -s "$sock" -c "$clients" -n 100000000 -t get,set -q >"$work/bench-$i.log" 2>&1 &
  bench=$!
  pids+=("$bench")
  sleep 0.3
  failed=""
  if ! out=$("$cli" apply --pid "$server" --allow-unsigned "$patch" 2>&1); then
    failed="apply: $out"
  elif [[ $(redis-cli -s "$sock" SET hotpatch-key "v$i") != OK || $(redis-cli -s "$sock" GET hotpatch-key) != "v$i" ]]; then
    failed="GET through the patch gave the wrong answer"
  elif ! out=$("$cli" revert --pid "$server" redis-get 2>&1); then
    failed="revert: $out"
  fi
  kill "$bench" 2>/dev/null || true
  wait "$bench" 2>/dev/null || true
  if [[ -z $failed ]] && grep -qiE 'error|closed' "$work/bench-$i.log"; then
    failed="redis-benchmark saw errors: $(grep -iE 'error|closed' "$work/bench-$i.log" | head -3 | tr '\n' ' ')"
  fi
  if [[ -z $failed ]] && ! kill -0 "$server" 2>/dev/null; then failed="the server died"; fi
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [[ -z $failed ]]; then ok=$((ok + 1)); else echo "instance $i: $failed"; fi
done
echo "first apply: $ok of $count instances"
[[ $ok -eq $count ]]
