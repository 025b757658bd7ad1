#!/usr/bin/env bash
# Patches Debian's nginx while wrk hammers it: the patch adds "X-Hotpatch" to every response, is
# checked from outside with curl, then reverted; no request may fail and the PID must not change.
# Prints requests, failures and p99 latency for each phase, and the median wall time of
# `hotpatch apply --pid` over 21 runs.
#
#   demo.sh HOTPATCH_CLI LIBHOTPATCH PATCH.so     (as root or as any user that can run nginx)
# Environment: PORT (default: a free one), DURATION (seconds per load phase, default 6).
set -euo pipefail

hotpatch=$1 lib=$2 patch_file=$3
duration=${DURATION:-6}
work=$(mktemp -d /tmp/hotpatch-nginx-XXXXXX)
nginx_pid= master=
cleanup() {
  [[ -n "$master" ]] && kill "$master" 2> /dev/null
  [[ -n "$nginx_pid" ]] && kill "$nginx_pid" 2> /dev/null && wait "$nginx_pid" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND exited with $?" >&2' ERR
fail() { echo "FAIL: $*" >&2; [[ -f $work/error.log ]] && tail -5 "$work/error.log" >&2; exit 1; }

port=${PORT:-$(( 20000 + RANDOM % 20000 ))}
mkdir -p "$work/tmp" "$work/sockets"
cat > "$work/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type text/plain;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 "hello from nginx\n"; }
  }
}
CONF

# The operator's signing key, and the patch signed with it. nginx pins the public key itself
# (HOTPATCH_TRUSTED_KEY): it applies nothing else, whoever asks. The signature is minisign's format.
cp "$patch_file" "$work/x_hotpatch_header.so"
patch=$work/x_hotpatch_header.so
"$hotpatch" keygen -s "$work/ops.key" -p "$work/ops.pub" > /dev/null
"$hotpatch" sign --key "$work/ops.key" "$patch" > /dev/null
minisign -Vm "$patch" -p "$work/ops.pub" > /dev/null || fail "minisign does not verify the signature hotpatch sign wrote"
export HOTPATCH_TRUSTED_KEY=$work/ops.pub

export HOTPATCH_CONTROL_DIR=$work/sockets
LD_PRELOAD=$lib HOTPATCH_CONTROL=1 HOTPATCH_LOG_FILE=$work/hotpatch.log \
  nginx -p "$work" -e "$work/error.log" -c "$work/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do
  [[ -S $work/sockets/$nginx_pid.sock ]] && curl -fs "http://127.0.0.1:$port/" > /dev/null && break
  kill -0 "$nginx_pid" 2> /dev/null || fail "nginx did not start"
  sleep 0.05
done
[[ -S $work/sockets/$nginx_pid.sock ]] || fail "nginx has no control socket"

header() { curl -fsS -D - -o /dev/null "http://127.0.0.1:$port/" | tr -d '\r' | sed -n 's/^X-Hotpatch: //p'; }
load() {  # load NAME: wrk for $duration seconds, output in $work/NAME.wrk
  wrk -t2 -c32 -d"${duration}s" --latency "http://127.0.0.1:$port/" > "$work/$1.wrk" 2>&1
}
figures() {  # figures NAME -> "requests failures p99"
  local f=$work/$1.wrk requests errors non2xx p99
  requests=$(awk '/requests in/ {print $1}' "$f")
  errors=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' "$f")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$f")
  p99=$(awk '$1 == "99%" {print $2}' "$f")
  echo "${requests:-0} $(( ${errors:-0} + ${non2xx:-0} )) ${p99:-?}"
}

[[ -z "$(header)" ]] || fail "the header is there before the patch"
load before

load during_apply &
wrk_pid=$!
sleep $(( duration / 3 ))
"$hotpatch" apply --pid "$nginx_pid" --pubkey "$work/ops.pub" "$patch"
[[ "$(header)" == "nginx-send-header-v1" ]] || fail "the patched nginx does not send X-Hotpatch"
wait "$wrk_pid"
"$hotpatch" status --pid "$nginx_pid"

load patched

load during_revert &
wrk_pid=$!
sleep $(( duration / 3 ))
"$hotpatch" revert --pid "$nginx_pid" nginx-x-hotpatch
[[ -z "$(header)" ]] || fail "X-Hotpatch is still sent after the revert"
wait "$wrk_pid"

load after

kill -0 "$nginx_pid" 2> /dev/null || fail "nginx is gone"
[[ "$(cat "$work/nginx.pid")" == "$nginx_pid" ]] || fail "nginx's PID changed"

# End-to-end time of `hotpatch apply --pid` (verify signature, send, apply, answer), each followed by a revert.
times=()
for _ in $(seq 21); do
  t0=$(date +%s%N)
  "$hotpatch" apply --pid "$nginx_pid" --pubkey "$work/ops.pub" "$patch" > /dev/null
  t1=$(date +%s%N)
  times+=($(( (t1 - t0) / 1000 )))
  "$hotpatch" revert --pid "$nginx_pid" nginx-x-hotpatch > /dev/null
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 11p)

# The usual deployment: a daemon whose master forks workers that drop root. Each forked process gets
# its own endpoint; `--all` patches them all.
mw_port=$(( port + 1 ))
sed -e 's/^daemon off;/daemon on;/' -e 's/^master_process off;/master_process on;/' -e 's/^worker_processes 1;/worker_processes 2;/' \
  -e "s/127.0.0.1:$port/127.0.0.1:$mw_port/" -e "s|$work/nginx.pid|$work/mw.pid|" "$work/nginx.conf" > "$work/mw.conf"
chmod 755 "$work" "$work/tmp"
LD_PRELOAD=$lib HOTPATCH_CONTROL=1 HOTPATCH_LOG_FILE=$work/hotpatch.log nginx -p "$work" -e "$work/error.log" -c "$work/mw.conf"
for _ in $(seq 100); do [[ -s $work/mw.pid ]] && curl -fs "http://127.0.0.1:$mw_port/" > /dev/null && break; sleep 0.05; done
master=$(cat "$work/mw.pid")
mw_header() { curl -fsS -D - -o /dev/null "http://127.0.0.1:$mw_port/" | tr -d '\r' | sed -n 's/^X-Hotpatch: //p'; }
"$hotpatch" ps
workers=$(pgrep -P "$master" | tr '\n' ' ' || true)
[[ $(wc -w <<< "$workers") -eq 2 ]] || fail "nginx did not start 2 workers"
applied=$("$hotpatch" apply --all --pubkey "$work/ops.pub" "$patch")
for p in $master $workers; do
  grep -q "^process $p: applied" <<< "$applied" || fail "process $p was not patched: $applied"
done
for _ in $(seq 8); do [[ "$(mw_header)" == "nginx-send-header-v1" ]] || fail "a worker answered unpatched"; done
"$hotpatch" revert --all nginx-x-hotpatch > /dev/null
for _ in $(seq 8); do [[ -z "$(mw_header)" ]] || fail "a worker still patched after revert --all"; done
[[ "$(cat "$work/mw.pid")" == "$master" ]] || fail "the master's PID changed"
kill "$master"
master=

echo
echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), pid $nginx_pid (unchanged), wrk -t2 -c32 -d${duration}s per phase"
printf '%-14s %10s %9s %10s\n' phase requests failures p99
total_failures=0
for phase in before during_apply patched during_revert after; do
  read -r requests failures p99 < <(figures "$phase")
  printf '%-14s %10s %9s %10s\n' "$phase" "$requests" "$failures" "$p99"
  total_failures=$(( total_failures + failures ))
  (( requests > 0 )) || fail "no requests completed in phase $phase"
done
echo "hotpatch apply --pid $nginx_pid --pubkey ops.pub x_hotpatch_header.so: median $(( median / 1000 )).$(( median % 1000 / 100 )) ms over 21 runs"
echo "runtime log:"
sed -n '1,8s/^/  /p' "$work/hotpatch.log"  # not | head: under pipefail, SIGPIPE would fail the script
(( total_failures == 0 )) || fail "$total_failures failed requests"
echo "OK: zero failed requests, same PID, patch applied and reverted under load; master and workers patched with --all"
