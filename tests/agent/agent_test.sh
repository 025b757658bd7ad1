#!/usr/bin/env bash
# hotpatch agent end to end, on programs started without the runtime (tests/attach/attach_target.c):
#   - a pass attaches to a matching process and applies the registry's patch; --status shows it;
#   - a process started after the service's first pass is patched by a later one;
#   - a version whose health command fails is reverted and never applied again on this host;
#   - a process that dies in its health window takes its version back;
#   - a staged entry reaches the same hosts on every run;
#   - every refusal names what and why.
#   - a process whose own runtime polls the same registry is left to it (one owner per process);
# Usage: agent_test.sh HOTPATCH TARGET ANSWER_V1.so ANSWER_V2.so LIBHOTPATCH.so
set -u
hotpatch=$1 target=$2 v1=$3 v2=$4 runtime=$5
work=$(mktemp -d)
export HOTPATCH_CONTROL_DIR=$work/control
mkdir -m 700 "$HOTPATCH_CONTROL_DIR"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
# A copy of its own: the agent patches every process running the program it is given, and other
# tests run the original at the same time.
cp "$target" "$work/target"
target=$work/target
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect RC TEXT CMD...: runs CMD, requires exit code RC and TEXT in its output.
expect() {
  local rc=$1 text=$2
  shift 2
  local out got
  out=$("$@" 2>&1)
  got=$?
  if [[ $got -ne $rc || "$out" != *"$text"* ]]; then
    fail "$* -> exit $got (want $rc), output:"
    echo "$out"
    echo "(wanted text: $text)"
  fi
}

# start_target NAME: runs the target waiting in epoll_wait, its stdin a FIFO the test writes to.
start_target() {
  local name=$1
  mkfifo "$name.in"
  sleep 600 >"$name.in" &
  pids+=($!)
  "$target" epoll <"$name.in" >"$name.out" 2>"$name.err" &
  pids+=($!)
  eval "${name}_pid=$!"
  for _ in $(seq 50); do grep -q ready "$name.out" && return; sleep 0.1; done
  fail "$name did not start"
}
# answer NAME: what the target answers now.
answer() {
  local name=$1 before
  before=$(grep -c answer "$name.out")
  echo >"$name.in"
  for _ in $(seq 50); do
    [[ $(grep -c answer "$name.out") -gt $before ]] && break
    sleep 0.05
  done
  grep answer "$name.out" | tail -1
}

"$hotpatch" keygen >/dev/null || fail "keygen"
"$hotpatch" publish --registry reg --key hotpatch.key --name fleet "$v1" >/dev/null || fail "publish v1"
base=("$hotpatch" agent --registry reg --name fleet --pubkey hotpatch.pub --state-dir "$work/state"
  --host-id host-1 --program "$target")
agent=("${base[@]}" --health-seconds 1)

# 1. A pass patches a process started without the runtime, and --status says so.
start_target a
[[ $(answer a) == "answer 42" ]] || fail "a: unpatched answer is not 42"
expect 0 "applied answer version 1 to process $a_pid ($target), watching it for 1 s" "${agent[@]}" --once
[[ $(answer a) == "answer 43" ]] || fail "a: the agent's pass did not patch it: $(answer a)"
expect 0 "answer version 1, applied" "$hotpatch" agent --status --state-dir "$work/state"
expect 0 "after attaching, well (health window passed)" "$hotpatch" agent --status --state-dir "$work/state"
expect 0 '"taken_back": []' "$hotpatch" agent --status --json --state-dir "$work/state"
# A second pass finds it up to date: nothing to do, nothing said about it.
out=$("${agent[@]}" --once 2>&1) || fail "second pass failed: $out"
[[ "$out" != *"applied answer"* ]] || fail "second pass applied again: $out"

# 2. The service: a process started after its first pass is patched by a later one.
cat >agent.conf <<CONF
# the fleet's registry
registry = $work/reg
name = fleet
pubkey = $work/hotpatch.pub
host_id = host-1
state_dir = $work/state
interval = 1
scan_interval = 1
programs = $target
health_seconds = 1
CONF
chmod 600 agent.conf
"$hotpatch" agent --config agent.conf 2>service.log &
service=$!
pids+=($service)
sleep 1.5
start_target b
for _ in $(seq 60); do grep -q "applied answer version 1 to process $b_pid" service.log && break; sleep 0.1; done
grep -q "applied answer version 1 to process $b_pid" service.log || fail "the service did not patch a process started later: $(cat service.log)"
[[ $(answer b) == "answer 43" ]] || fail "b: not patched by the service"
# One agent per state directory.
expect 1 "state: is in use by another hotpatch agent on this host (one agent per state directory)" "${agent[@]}" --once
kill -TERM $service
wait $service 2>/dev/null
grep -q "agent stopped" service.log || fail "the service did not stop on SIGTERM: $(tail -3 service.log)"

# With the kernel's process events, a new program is looked at as it starts, not at the next scan.
sed -e 's/^scan_interval = 1$/scan_interval = 3600/' -e 's/^interval = 1$/interval = 3600/' agent.conf >events.conf
chmod 600 events.conf
"$hotpatch" agent --config events.conf 2>events.log &
service=$!
pids+=($service)
sleep 1
if grep -q "proc connector" events.log; then
  grep -q "new processes are found by looking at /proc every 3600 s" events.log ||
    fail "without process events the agent does not say how it finds new processes: $(cat events.log)"
  echo "note: no process events here ($(grep -o 'proc connector[^;]*' events.log)); the /proc scan was tested above"
else
  start_target f
  for _ in $(seq 50); do grep -q "applied answer version 1 to process $f_pid" events.log && break; sleep 0.1; done
  grep -q "applied answer version 1 to process $f_pid" events.log ||
    fail "a program started under the service was not patched within 5 s of its start: $(cat events.log)"
fi
kill -TERM $service
wait $service 2>/dev/null

# 3. A version whose health command fails is taken back everywhere and not applied again.
"$hotpatch" publish --registry reg --key hotpatch.key "$v2" >/dev/null || fail "publish v2"
expect 1 "took back answer version 2 on this host: the health command exited with 3 for process" \
  "${base[@]}" --health-seconds 3 --health-command 'test "$HOTPATCH_PATCH_VERSION" = 2 && exit 3; exit 0' --once
[[ $(answer a) == "answer 43" ]] || fail "a: version 2 was not reverted: $(answer a)"
[[ $(answer b) == "answer 43" ]] || fail "b: version 2 was not reverted: $(answer b)"
expect 0 "answer version 2 at" "$hotpatch" agent --status --state-dir "$work/state"
out=$("${agent[@]}" --once 2>&1)
[[ "$out" != *"applied answer version 2"* ]] || fail "version 2 was applied again after being taken back: $out"
[[ $(answer a) == "answer 43" ]] || fail "a: changed after the take-back: $(answer a)"

# 4. A process that dies within its window takes the version back (another state: another host).
start_target c
other=("$hotpatch" agent --registry reg --name fleet --pubkey hotpatch.pub --state-dir "$work/state-c"
  --host-id host-2 --program "$target" --health-seconds 5)
"${other[@]}" --once >c.log 2>&1 &
runner=$!
for _ in $(seq 50); do grep -q "applied answer version 2 to process $c_pid" c.log && break; sleep 0.1; done
kill -9 "$c_pid"
wait $runner
grep -q "took back answer version 2 on this host: process $c_pid exited ($target)" c.log ||
  fail "a process dying in its window did not take the version back: $(cat c.log)"

# A health command that hangs is killed at its timeout and counts as a failure.
start_target e
cat >slow.conf <<CONF
registry = $work/reg
name = fleet
pubkey = $work/hotpatch.pub
host_id = host-3
state_dir = $work/state-e
programs = $target
health_seconds = 2
health_interval = 1
health_timeout = 1
health_command = sleep 30
CONF
chmod 600 slow.conf
expect 1 "took back answer version 2 on this host: the health command did not finish within 1 s for process" \
  "$hotpatch" agent --config slow.conf --once
[[ $(answer e) == "answer 42" ]] || fail "e: version 2 was not reverted after the hanging health command: $(answer e)"

# 5. A staged entry: the same hosts each run, about the share.
"$hotpatch" publish --registry reg --key hotpatch.key --rollout 10% --id answer >/dev/null || fail "publish --rollout"
takes() {
  for h in $(seq 0 199); do
    "$hotpatch" agent --registry reg --name fleet --pubkey hotpatch.pub --state-dir "$work/roll-$1-$h" \
      --host-id "host-$h" --program /nonexistent --once 2>&1 | grep -q "this host takes answer version 2 (staged to 10% of hosts)" &&
      echo "$h"
  done
}
first=$(takes one | tr '\n' ' ')
second=$(takes two | tr '\n' ' ')
n=$(wc -w <<<"$first")
[[ "$first" == "$second" ]] || fail "a staged entry chose other hosts on a second run: [$first] vs [$second]"
((n >= 8 && n <= 35)) || fail "10% of 200 hosts took it on $n hosts: [$first]"

# 6. One owner: a process whose own runtime polls this registry is left to its poller, which takes
# the registry's decisions itself (here: version 2 is not for host-poller, staged to 10%).
mkfifo d.in
sleep 600 >d.in &
pids+=($!)
LD_PRELOAD=$runtime HOTPATCH_REGISTRY_URL=file://$work/reg HOTPATCH_REGISTRY_NAME=fleet HOTPATCH_TRUSTED_KEY=$work/hotpatch.pub \
  HOTPATCH_HOST_ID=host-poller HOTPATCH_CACHE_DIR=$work/d-cache "$target" epoll <d.in >d.out 2>d.err &
d_pid=$!
pids+=($d_pid)
for _ in $(seq 50); do grep -q ready d.out && break; sleep 0.1; done
expect 0 "process $d_pid ($target) polls file://$work/reg itself: left to its own poller" "${agent[@]}" --once
kill "$d_pid"
# The same with its endpoint off: the runtime refuses a second start, and the agent leaves it.
LD_PRELOAD=$runtime HOTPATCH_CONTROL=0 HOTPATCH_POLL_SECONDS=3600 HOTPATCH_REGISTRY_URL=file://$work/reg \
  HOTPATCH_REGISTRY_NAME=fleet HOTPATCH_TRUSTED_KEY=$work/hotpatch.pub HOTPATCH_HOST_ID=host-poller \
  HOTPATCH_CACHE_DIR=$work/d-cache "$target" epoll <d.in >d2.out 2>d2.err &
d_pid=$!
pids+=($d_pid)
for _ in $(seq 50); do grep -q ready d2.out && break; sleep 0.1; done
expect 0 "process $d_pid ($target) runs its own registry poller (its endpoint is off): left to it" \
  "$hotpatch" agent --registry reg --name fleet --pubkey hotpatch.pub --state-dir "$work/state-d" \
  --host-id "host-${first%% *}" --program "$target" --health-seconds 0 --once

# Another user's process, chosen by user: the agent (root) attaches to it, and leaves root's alone
# (as a host the staged entry is for).
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
  chmod 755 "$work"
  mkfifo g.in
  sleep 600 >g.in &
  pids+=($!)
  env -u HOTPATCH_CONTROL_DIR setpriv --reuid=65534 --regid=65534 --clear-groups "$target" epoll <g.in >g.out 2>g.err &
  g_pid=$!
  pids+=($g_pid)
  for _ in $(seq 50); do grep -q ready g.out && break; sleep 0.1; done
  start_target h
  expect 0 "applied answer version 2 to process $g_pid ($target)" \
    "$hotpatch" agent --registry reg --name fleet --pubkey hotpatch.pub --state-dir "$work/state-g" \
    --host-id "host-${first%% *}" --program "$target" --user nobody --health-seconds 0 --once
  [[ $(answer h) == "answer 42" ]] || fail "h: root's process was patched by an agent for nobody's: $(answer h)"
fi

# 7. Refusals.
# A blob whose own signature is gone (a mirror that lost it, or stripped it) is not sent: the
# process would refuse it anyway, and it stays as it was.
mkdir sigless
"$hotpatch" publish --registry sigless --key hotpatch.key --name bare "$v1" >/dev/null || fail "publish sigless"
rm sigless/blobs/sha256/*.minisig
start_target i
expect 1 "has no signature the registry key verifies" \
  "$hotpatch" agent --registry sigless --name bare --pubkey hotpatch.pub --state-dir "$work/state-i" \
  --host-id host-1 --program "$target" --health-seconds 0 --once
[[ $(answer i) == "answer 42" ]] || fail "i: patched from a blob without its signature: $(answer i)"
cp hotpatch.pub open.pub
chmod 666 open.pub
expect 1 "pubkey open.pub: is writable by group or others" \
  "$hotpatch" agent --registry reg --name fleet --pubkey open.pub --state-dir "$work/state-k" --once
expect 2 "no registry: give --registry URL or 'registry =' in the configuration" "$hotpatch" agent --once --state-dir "$work/s6"
expect 2 "no registry key: give --pubkey FILE" "$hotpatch" agent --registry reg --name fleet --once --state-dir "$work/s6"
printf 'registry = %s\nfrobnicate = 1\n' "$work/reg" >bad.conf
chmod 600 bad.conf
expect 1 "bad.conf:2: unknown key 'frobnicate'" "$hotpatch" agent --config bad.conf --once
printf 'interval = soon\n' >bad2.conf
chmod 600 bad2.conf
expect 1 "bad2.conf:1: 'soon' is not a whole number of seconds from 1 to 604800" "$hotpatch" agent --config bad2.conf --once
chmod 666 agent.conf
expect 1 "agent.conf: is writable by group or others: whoever can write it would choose what every process accepts" \
  "$hotpatch" agent --config agent.conf --once
expect 1 "does not exist: the agent has not made a pass with this state directory" "$hotpatch" agent --status --state-dir "$work/none"
expect 2 "users: no user named 'nosuchuser'" "${agent[@]}" --user nosuchuser --once
echo '{"patched": [' >"$work/state/state/state.json"
expect 1 "state.json: is damaged (" "${agent[@]}" --once
expect 1 "remove it to start over, which forgets the patch versions taken back on this host" "$hotpatch" agent --status --state-dir "$work/state"
mkdir -m 777 open-state
expect 1 "open-state: is writable by group or others" "${agent[@]/$work\/state/$work/open-state}" --once
"$hotpatch" keygen -s other.key -p other.pub >/dev/null
expect 1 "registry refused" "$hotpatch" agent --registry reg --name fleet --pubkey other.pub --state-dir "$work/s7" --once
expect 1 "registry refused" "$hotpatch" agent --registry reg --name another --pubkey hotpatch.pub --state-dir "$work/s8" --once

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all agent checks passed"
