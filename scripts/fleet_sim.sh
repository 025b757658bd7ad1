#!/usr/bin/env bash
# A staged rollout on a simulated fleet: HOSTS hosts (host-0..host-N-1, each its own state
# directory) run `hotpatch agent --once` every INTERVAL seconds from a random phase against a
# signed registry served by nginx on loopback. After one interval the answer patch is published
# to 10 % of hosts, two intervals later promoted to 100 %, two intervals later the run stops.
# REAL of the hosts run a copy of hp_attach_target at their own path, which their agent attaches
# to and patches. Prints the figures as markdown (docs/performance.md, "Fleet"); exits non-zero
# when a check fails: the share is not the set the host ids choose, a host never takes the
# patch, or a real process does not answer 43 at the end.
#   scripts/fleet_sim.sh [--interval S] [--hosts N] [--real K] [--concurrency C]
#                        [--report FILE] [--keep] [BUILD_DIR]
# Defaults: interval 30 (FLEET_INTERVAL), 1000 hosts (FLEET_HOSTS), 20 real (FLEET_REAL), 4 agents
# at once (FLEET_CONCURRENCY), BUILD_DIR ./build. The run takes 5 intervals plus setup; the work
# directory (mktemp) is removed at the end unless --keep. Needs nginx (nginx-light) and python3,
# both installed by scripts/install-deps.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
interval=${FLEET_INTERVAL:-30}
hosts=${FLEET_HOSTS:-1000}
real=${FLEET_REAL:-20}
concurrency=${FLEET_CONCURRENCY:-4}
report=""
keep=0
build=./build
while [[ $# -gt 0 ]]; do
  case $1 in
    --interval) interval=$2; shift 2 ;;
    --hosts) hosts=$2; shift 2 ;;
    --real) real=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "fleet_sim: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
build=$(cd "$build" && pwd)
nginx=/usr/sbin/nginx
for f in "$build/tools/hotpatch" "$build/libexec/hotpatch/hotpatch-registry" "$build/src/libhotpatch.so" \
  "$build/tests/attach/hp_attach_target" "$build/tests/attach/patches/answer_v1.so" "$nginx"; do
  [[ -e $f ]] || { echo "fleet_sim: $f is missing (build the tree; nginx-light for nginx)" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "fleet_sim: python3 is missing (scripts/install-deps.sh)" >&2; exit 2; }
((real <= hosts)) || { echo "fleet_sim: --real $real is more than --hosts $hosts" >&2; exit 2; }
[[ -z $report || $report == /* ]] || report=$PWD/$report

work=$(mktemp -d /tmp/hotpatch-fleet-XXXXXX)
pids=()
nginx_pid=""
driver_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $driver_pid ]]; then
    kill -TERM "$driver_pid" 2>/dev/null || true
    wait "$driver_pid" 2>/dev/null || true
  fi
  {
    for p in "${pids[@]}"; do kill -9 "$p" || true; done
    if [[ -n $nginx_pid ]]; then
      kill -QUIT "$nginx_pid" || true
      for _ in $(seq 50); do kill -0 "$nginx_pid" || break; sleep 0.1; done
      kill -9 "$nginx_pid" || true
    fi
    wait || true
  } 2>/dev/null
  if ((keep)); then echo "fleet_sim: work directory kept: $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$work"
# The agents and the runtimes they attach find each other's control sockets here.
export HOTPATCH_CONTROL_DIR=$work/control
mkdir -m 700 "$HOTPATCH_CONTROL_DIR"
# A copy of what the run uses, so that a rebuild of the tree during the run does not change it
# (hotpatch runs `agent` in ../libexec/hotpatch/hotpatch-registry from its own directory).
mkdir -p bin/tools bin/libexec/hotpatch bin/src
cp "$build/tools/hotpatch" bin/tools/
cp "$build/libexec/hotpatch/hotpatch-registry" bin/libexec/hotpatch/
cp "$(readlink -f "$build/src/libhotpatch.so")" bin/src/libhotpatch.so
cp "$build/tests/attach/hp_attach_target" "$build/tests/attach/patches/answer_v1.so" bin/
hotpatch=$work/bin/tools/hotpatch
runtime=$work/bin/src/libhotpatch.so
target=$work/bin/hp_attach_target
patch=$work/bin/answer_v1.so

# 1. The key, an empty registry, nginx serving it on a free loopback port.
"$hotpatch" keygen >/dev/null
"$hotpatch" publish --registry "$work/registry" --key hotpatch.key --name fleet >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir nginx
cat >nginx/nginx.conf <<CONF
$( ((EUID == 0)) && echo "user root;")
worker_processes 1;
daemon off;
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  log_format fleet '\$msec \$status \$body_bytes_sent \$bytes_sent "\$request" \$request_time';
  access_log $work/nginx/access.log fleet;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    root $work/registry;
    location = /index.minisig { add_header Cache-Control no-cache; }
  }
}
CONF
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$nginx_pid" 2>/dev/null || break
  sleep 0.05
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "fleet_sim: nginx did not start:" >&2; cat nginx/error.log >&2; exit 1; }

# 2. Every host's directory; the real ones run a copy of the target at their own path, waiting in
#    epoll_wait, stdin a FIFO it opens read-write itself (so it never sees end of file).
real_hosts=()
real_arg=""
for ((i = 0; i < real; i++)); do real_hosts+=($((i * hosts / real))); done
for ((h = 0; h < hosts; h++)); do mkdir "host-$h"; done
for h in "${real_hosts[@]}"; do
  d=$work/host-$h
  cp "$target" "$d/prog"
  mkfifo "$d/in"
  "$d/prog" epoll 0<>"$d/in" >"$d/out" 2>"$d/err" &
  pids+=($!)
  real_arg+="${real_arg:+,}$h:$!"
done
for h in "${real_hosts[@]}"; do
  for _ in $(seq 100); do grep -q ready "host-$h/out" && break; sleep 0.05; done
  grep -q ready "host-$h/out" || { echo "fleet_sim: the target of host-$h did not start" >&2; exit 1; }
done

# 3 and 4. The driver: the schedule, the two publishes, the checks, the figures.
shown="scripts/fleet_sim.sh --interval $interval"
[[ $hosts == 1000 ]] || shown+=" --hosts $hosts"
[[ $real == 20 ]] || shown+=" --real $real"
[[ $concurrency == 4 ]] || shown+=" --concurrency $concurrency"
set +e
python3 "$root/scripts/fleet_sim.py" --hotpatch "$hotpatch" --runtime "$runtime" --patch "$patch" \
  --work "$work" --registry-dir "$work/registry" --registry-url "http://127.0.0.1:$port" --name fleet \
  --key "$work/hotpatch.key" --pubkey "$work/hotpatch.pub" --access-log "$work/nginx/access.log" \
  --nginx-pid "$nginx_pid" --hosts "$hosts" --real "$real_arg" \
  --interval "$interval" --concurrency "$concurrency" --command "$shown" >"$work/report.md" &
driver_pid=$!
wait "$driver_pid"
rc=$?
driver_pid=""
set -e
cat "$work/report.md"
[[ -z $report ]] || cp "$work/report.md" "$report"
exit "$rc"
