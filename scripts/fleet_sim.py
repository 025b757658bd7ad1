#!/usr/bin/env python3
"""The driver of scripts/fleet_sim.sh: runs `hotpatch agent --once` for every simulated host on its
own schedule, publishes the staged rollout and its promotion, then reads the agents' logs and the
registry server's access log and prints the figures as markdown.

Each host polls every INTERVAL seconds from a random phase, the next poll INTERVAL +-10 % after the
start of the last, as the agent's own loop does. One process keeps the schedule and runs at most
CONCURRENCY agents at once (each reaped through a pidfd, its CPU time taken from wait4). A host
never runs two agents at once: its next poll is queued when its last run ends.

Started by fleet_sim.sh, which owns the registry server and the real processes; this script only
starts agents and publishes. Exit status 0 when every check holds, 1 otherwise."""

import argparse
import hashlib
import heapq
import json
import math
import os
import random
import re
import resource
import selectors
import signal
import statistics
import sys
import time
from datetime import datetime, timezone

PATCH_ID = "answer"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z hotpatch agent: (.*)$")


def say(text):
    print(f"[fleet {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def rollout_position(host_id, patch_id):
    """What src/registry/rollout.cpp computes: the host's place in a staged rollout, 0..9999."""
    text = f"hotpatch-rollout-v1\n{len(host_id)}:{host_id}{len(patch_id)}:{patch_id}"
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16) % 10000


def quantile(values, q):
    """Nearest rank: the smallest value with at least q of them at or below it."""
    v = sorted(values)
    return v[max(0, math.ceil(q * len(v)) - 1)]


def spread(values, unit=1.0, fmt="{:.1f}"):
    if not values:
        return "-"
    f = lambda x: fmt.format(x * unit)
    return (f"{f(min(values))} / {f(statistics.median(values))} / {f(quantile(values, 0.9))} / "
            f"{f(max(values))}")


def log_time(stamp):
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def cpu_seconds_of(pid):
    """utime + stime of a process, in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def nginx_cpu(master):
    pids = [master]
    try:
        with open(f"/proc/{master}/task/{master}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return sum(cpu_seconds_of(p) for p in pids)


def machine_busy():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Host:
    def __init__(self, index, work, real):
        self.index = index
        self.id = f"host-{index}"
        self.dir = os.path.join(work, self.id)
        self.log = os.path.join(self.dir, "agent.log")
        self.real = real


class Run:
    def __init__(self, host, due, start):
        self.host, self.due, self.start = host, due, start
        self.end = self.cpu = self.rc = None
        self.first_apply = False


class Driver:
    def __init__(self, a):
        self.a = a
        self.hosts = [Host(i, a.work, i in a.real_hosts) for i in range(a.hosts)]
        self.rng = random.Random(a.seed)
        self.queue = []  # (due, host index)
        self.running = {}  # pidfd -> (pid, Run or callback)
        self.sel = selectors.DefaultSelector()
        self.runs = []
        self.env = dict(os.environ)

    # --- children -------------------------------------------------------------------------------
    def spawn(self, argv, log_path, payload):
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
                   (os.POSIX_SPAWN_DUP2, 1, 2)]
        pid = os.posix_spawn(argv[0], argv, self.env, file_actions=actions)
        fd = os.pidfd_open(pid)
        self.running[fd] = (pid, payload)
        self.sel.register(fd, selectors.EVENT_READ)
        return pid

    def reap(self, timeout):
        for key, _ in self.sel.select(timeout):
            fd = key.fd
            pid, payload = self.running.pop(fd)
            self.sel.unregister(fd)
            os.close(fd)
            _, status, usage = os.wait4(pid, 0)
            end = time.time()
            rc = os.waitstatus_to_exitcode(status)
            if isinstance(payload, Run):
                payload.end, payload.rc = end, rc
                payload.cpu = usage.ru_utime + usage.ru_stime
                self.runs.append(payload)
                # The next poll: interval +-10 % after the start of this one, as the agent does.
                nxt = payload.start + self.a.interval * self.rng.uniform(0.9, 1.1)
                heapq.heappush(self.queue, (nxt, payload.host.index))
            else:
                payload(end, rc)

    def agent_argv(self, h):
        a = self.a
        return [a.hotpatch, "agent", "--once", "--registry", a.registry_url, "--name", a.name,
                "--pubkey", a.pubkey, "--host-id", h.id, "--state-dir", os.path.join(h.dir, "state"),
                "--program", os.path.join(h.dir, "prog"), "--health-seconds", "0", "--runtime", a.runtime]

    # --- the schedule ---------------------------------------------------------------------------
    def run_until(self, deadline, events):
        """Runs agents on schedule until `deadline`; `events` is a list of (time, callable)."""
        events = sorted(events, key=lambda e: e[0])
        while True:
            now = time.time()
            while events and events[0][0] <= now:
                events.pop(0)[1]()
            if now >= deadline and not events:
                return
            while self.queue and self.queue[0][0] <= now and len(self.running) < self.a.concurrency:
                due, i = heapq.heappop(self.queue)
                h = self.hosts[i]
                r = Run(h, due, time.time())
                self.spawn(self.agent_argv(h), h.log, r)
            wake = [deadline] + [e[0] for e in events[:1]]
            if self.queue and len(self.running) < self.a.concurrency:
                wake.append(self.queue[0][0])
            timeout = max(0.0, min(wake) - time.time())
            if self.running:
                self.reap(timeout)
            else:
                time.sleep(timeout)

    def drain(self):
        while self.running:
            self.reap(None)

    def publish(self, args, label, when):
        """Starts `hotpatch publish`; records its start and end in `when`."""
        argv = [self.a.hotpatch, "publish", "--registry", self.a.registry_dir, "--key", self.a.key] + args
        when["start"] = time.time()

        def done(end, rc):
            when["end"], when["rc"] = end, rc
            say(f"{label}: publish exited {rc} after {(end - when['start']) * 1000:.0f} ms")
        self.spawn(argv, os.path.join(self.a.work, "publish.log"), done)


# --- the real processes -------------------------------------------------------------------------
def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def answer_of(host_dir, timeout=5.0):
    """Writes a line to the process's stdin and returns the answer it prints ("answer N")."""
    out = os.path.join(host_dir, "out")
    with open(out) as f:
        before = f.read().count("answer")
    try:
        fd = os.open(os.path.join(host_dir, "in"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        return f"no reader on its stdin ({e.strerror})"
    try:
        os.write(fd, b"\n")
    finally:
        os.close(fd)
    end = time.time() + timeout
    while time.time() < end:
        with open(out) as f:
            lines = [l.strip() for l in f if l.startswith("answer")]
        if len(lines) > before:
            return lines[-1]
        time.sleep(0.01)
    return "no answer"


# --- the logs -----------------------------------------------------------------------------------
def read_agent_logs(hosts):
    taken, applied, other = {}, {}, {}
    for h in hosts:
        try:
            with open(h.log) as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            m = STAMP.match(line)
            if not m:
                other.setdefault(h.id, []).append(line)
                continue
            t, what = log_time(m.group(1)), m.group(2)
            if what.startswith(f"this host takes {PATCH_ID} version 1"):
                taken.setdefault(h.index, t)
            elif what.startswith(f"applied {PATCH_ID} version 1 to process"):
                applied.setdefault(h.index, t)
            elif what.startswith("registry '") or what.startswith("attached to "):
                pass
            else:
                other.setdefault(h.id, []).append(line)
    return taken, applied, other


def read_access_log(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            # $msec $status $body_bytes_sent $bytes_sent "$request"
            rows.append((float(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]), parts[5]))
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hotpatch", required=True)
    p.add_argument("--runtime", required=True)
    p.add_argument("--patch", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--registry-dir", required=True)
    p.add_argument("--registry-url", required=True)
    p.add_argument("--name", default="fleet")
    p.add_argument("--key", required=True)
    p.add_argument("--pubkey", required=True)
    p.add_argument("--access-log", required=True)
    p.add_argument("--nginx-pid", type=int, required=True)
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--real", default="", help="HOST:PID,...: the hosts with a real process, and its pid")
    p.add_argument("--interval", type=float, default=30)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--percent", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--command", default="scripts/fleet_sim.sh")
    a = p.parse_args()
    a.real_pids = {int(h): int(pid) for h, pid in (x.split(":") for x in a.real.split(",") if x)}
    a.real_hosts = set(a.real_pids)
    # Whatever the shell left open (the driver's stdout aside) is not the agents' business.
    for fd in map(int, os.listdir("/proc/self/fd")):
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass
    I = a.interval
    d = Driver(a)
    failures = []

    def on_term(signum, frame):
        for pid, _ in list(d.running.values()):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    expected = sorted(i for i in range(a.hosts) if rollout_position(f"host-{i}", PATCH_ID) < a.percent * 100)
    say(f"{a.hosts} hosts ({len(a.real_hosts)} with a real process), interval {I:g} s, "
        f"{a.concurrency} agents at once; {len(expected)} hosts are in the first {a.percent} %")

    busy0 = machine_busy()
    nginx0 = nginx_cpu(a.nginx_pid)
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    load = []
    t_start = time.time()
    for h in d.hosts:
        heapq.heappush(d.queue, (t_start + d.rng.uniform(0, I), h.index))

    staged, promoted = {}, {}
    answers_staged = {}

    gone = {}
    last = {"runs": 0, "time": t_start}

    def sample_load():
        now = time.time()
        load.append(os.getloadavg()[0])
        for i, pid in a.real_pids.items():
            if i not in gone and not alive(pid):
                gone[i] = now
                say(f"host-{i}: its process {pid} is gone")
        recent = d.runs[last["runs"]:]
        if recent:
            lag_recent = [r.start - r.due for r in recent]
            bad = sum(1 for r in recent if r.rc != 0)
            say(f"{len(recent)} runs in {now - last['time']:.0f} s, behind schedule p99 "
                f"{quantile(lag_recent, 0.99) * 1000:.0f} ms max {max(lag_recent) * 1000:.0f} ms, "
                f"{bad} non-zero exits, load {load[-1]:.1f}")
        last["runs"], last["time"] = len(d.runs), now

    # Warm-up: one interval against the empty registry, then the staged publish.
    d.run_until(t_start + I, [(t_start + I * k / 4, sample_load) for k in range(1, 4)])
    say("warm-up done; publishing answer version 1 to "
        f"{a.percent} % of hosts")
    d.publish(["--rollout", f"{a.percent}%", a.patch], "staged", staged)
    while "end" not in staged:
        d.run_until(time.time() + 0.05, [])
    T0 = staged["end"]
    if staged["rc"] != 0:
        failures.append("the staged publish failed (see publish.log)")
    d.run_until(T0 + 2 * I, [(T0 + I * k / 4, sample_load) for k in range(1, 8)])

    # Before the promotion: the real processes in the share answer 43, the others still 42.
    for i in sorted(a.real_hosts):
        answers_staged[i] = answer_of(d.hosts[i].dir)
    taken, applied, _ = read_agent_logs(d.hosts)
    took_staged = sorted(i for i, t in taken.items() if t < time.time())
    say(f"{len(took_staged)} hosts took it at {a.percent} %; promoting to 100 %")
    d.publish(["--rollout", "100%", "--id", PATCH_ID], "promoted", promoted)
    while "end" not in promoted:
        d.run_until(time.time() + 0.05, [])
    T1 = promoted["end"]
    if promoted["rc"] != 0:
        failures.append("the promotion failed (see publish.log)")
    t_stop = T1 + 2 * I
    d.run_until(t_stop, [(T1 + I * k / 4, sample_load) for k in range(1, 8)])
    say("stopping: waiting for the agents still running")
    d.drain()
    t_end = time.time()
    busy1 = machine_busy()
    nginx1 = nginx_cpu(a.nginx_pid)
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    answers_end = {i: answer_of(d.hosts[i].dir) for i in sorted(a.real_hosts)}
    for i, t in gone.items():
        failures.append(f"host-{i}: its process {a.real_pids[i]} exited (noticed "
                        f"{t - t_start:.0f} s into the run)")

    # --- figures --------------------------------------------------------------------------------
    taken, applied, other = read_agent_logs(d.hosts)
    # A poll can see the new pointer from the moment publish renames it into place, just before
    # publish exits: the phases start when publish starts, the delays count from when it ended.
    S0, S1 = staged["start"], promoted["start"]
    phase1 = {i: t for i, t in taken.items() if S0 <= t < S1}
    early = {i: t for i, t in taken.items() if t < S0}
    phase2 = {i: t for i, t in taken.items() if t >= S1}
    took_set = sorted(phase1)
    set_digest = hashlib.sha256(",".join(map(str, took_set)).encode()).hexdigest()[:16]
    if early:
        failures.append(f"{len(early)} hosts took it before it was published")
    if took_set != expected:
        failures.append(f"the hosts that took it at {a.percent} % are not the expected set "
                        f"({len(took_set)} took it, {len(expected)} expected)")
    if len(taken) != a.hosts:
        failures.append(f"only {len(taken)} of {a.hosts} hosts took it after the promotion")
    real_staged = sorted(i for i in a.real_hosts if i in expected)
    for i in sorted(a.real_hosts):
        want = "answer 43" if i in real_staged else "answer 42"
        if answers_staged[i] != want:
            failures.append(f"host-{i} answered '{answers_staged[i]}' before the promotion, not '{want}'")
        if answers_end[i] != "answer 43":
            failures.append(f"host-{i} answered '{answers_end[i]}' at the end, not 'answer 43'")
        if i not in applied:
            failures.append(f"host-{i}: its agent never applied answer version 1")
    applied1 = [applied[i] - T0 for i in real_staged if i in applied and S0 <= applied[i] < S1]
    applied2 = [applied[i] - T1 for i in sorted(a.real_hosts) if i in applied and applied[i] >= S1]
    if any(i in applied and applied[i] < S1 for i in a.real_hosts if i not in real_staged):
        failures.append("a real process outside the share was patched before the promotion")
    failed_runs = [r for r in d.runs if r.rc != 0]
    if failed_runs:
        failures.append(f"{len(failed_runs)} agent runs exited non-zero")
    if other:
        failures.append(f"{len(other)} hosts logged something unexpected")

    # Which run applied: the one in which the log says so.
    for r in d.runs:
        t = applied.get(r.host.index)
        if t is not None and r.start <= t <= r.end + 0.01:
            r.first_apply = True
    plain = [r for r in d.runs if not r.host.real]
    first = [r for r in d.runs if r.first_apply]
    later = [r for r in d.runs if r.host.real and not r.first_apply]
    lag = [r.start - r.due for r in d.runs]

    rows = read_access_log(a.access_log)
    windows = [
        ("first poll of every host (empty registry)", t_start, T0),
        (f"publish at {a.percent} % + 1 interval", T0, T0 + I),
        ("steady: 2nd interval after the staged publish", T0 + I, T1),
        ("promotion to 100 % + 1 interval", T1, T1 + I),
        ("steady: 2nd interval after the promotion", T1 + I, t_end),
        ("whole run", t_start, t_end),
    ]

    def window_row(name, lo, hi):
        w = [r for r in rows if lo <= r[0] < hi]
        secs = hi - lo
        n200 = sum(1 for r in w if r[1] == 200)
        n304 = sum(1 for r in w if r[1] == 304)
        nother = len(w) - n200 - n304
        b200 = sum(r[3] for r in w if r[1] == 200)
        b304 = sum(r[3] for r in w if r[1] == 304)
        total = sum(r[3] for r in w)
        extra = f" ({nother} other)" if nother else ""
        return (f"| {name} | {secs:.0f} | {len(w) / secs:.1f} | {n200}{extra} / {n304} | "
                f"{n200 / secs:.2f} / {n304 / secs:.1f} | {total:,} | {b200:,} / {b304:,} | {total / secs:,.0f} |")

    by_path = {}
    for r in rows:
        kind = ("pointer (index.minisig)" if r[4] == "/index.minisig" else
                "index" if r[4].startswith("/index/") else
                "blob signature" if r[4].endswith(".minisig") else
                "blob" if r[4].startswith("/blobs/") else r[4])
        c = by_path.setdefault((kind, r[1]), [0, 0])
        c[0] += 1
        c[1] += r[3]
    statuses = {s for r in rows for s in [r[1]] if s not in (200, 304)}
    if statuses:
        failures.append(f"the registry answered with status {sorted(statuses)}")

    elapsed = t_end - t_start
    agent_cpu = sum(r.cpu for r in d.runs)
    driver_cpu = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
    busy = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * os.cpu_count()
    ms = lambda rs: spread([r.end - r.start for r in rs], 1000, "{:.0f}")
    cpu_ms = lambda rs: f"{statistics.median([r.cpu for r in rs]) * 1000:.0f}" if rs else "-"

    real_list = ", ".join(f"host-{i}" for i in sorted(a.real_hosts))
    n_real = len(a.real_hosts)
    out = []
    out.append(f"Run of {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores: "
               f"`{a.command}`")
    out.append("")
    out.append("| figure | measured |")
    out.append("|---|---|")
    out.append(f"| hosts | {a.hosts:,} (`host-0`..`host-{a.hosts - 1}`, one state directory each); "
               f"{n_real} of them run a copy of `hp_attach_target` at their own path |")
    out.append(f"| poll interval | {I:g} s, each host from a random phase, next poll {I:g} s ±10 % after "
               f"the last; at most {a.concurrency} agents at once |")
    out.append(f"| timeline | warm-up {I:g} s, publish at {a.percent} % (T0), {2 * I:g} s, promote to "
               f"100 % (T1), {2 * I:g} s; {elapsed:.0f} s in all |")
    out.append(f"| agent runs | {len(d.runs):,} ({len(d.runs) / elapsed:.1f}/s), "
               f"{len(failed_runs)} exited non-zero; start behind schedule: median "
               f"{statistics.median(lag) * 1000:.0f} ms, p99 {quantile(lag, 0.99) * 1000:.0f} ms, "
               f"max {max(lag) * 1000:.0f} ms |")
    if quantile(lag, 0.99) > 0.05 * I:
        out.append(f"| **warning** | the driver fell behind its schedule (p99 "
                   f"{quantile(lag, 0.99):.1f} s late, {0.05 * I:.1f} s allowed): this machine does not "
                   f"sustain {a.hosts / I:.0f} runs/s; take a longer interval |")
        say(f"warning: the driver fell behind its schedule by up to {max(lag):.1f} s")
    out.append(f"| `--once` run, no matching process (min / median / p90 / max) | {ms(plain)} ms wall, "
               f"median {cpu_ms(plain)} ms CPU |")
    out.append(f"| `--once` run that attached and applied | {ms(first)} ms wall, median {cpu_ms(first)} ms CPU |")
    out.append(f"| `--once` run, real process already patched or not in the share | {ms(later)} ms wall, "
               f"median {cpu_ms(later)} ms CPU |")
    out.append(f"| took it at {a.percent} % | **{len(took_set)} of {a.hosts:,}** (expected {len(expected)} "
               f"from the host ids; list digest {set_digest}, the same each run) |")
    out.append(f"| took it after the promotion | **{len(taken):,} of {a.hosts:,}** "
               f"({len(phase2):,} more) |")
    out.append(f"| T0 → this host takes it, at {a.percent} % (min / median / p90 / max) | "
               f"{spread([t - T0 for t in phase1.values()])} s ({len(phase1)} hosts) |")
    out.append(f"| T1 → this host takes it, after the promotion | "
               f"{spread([t - T1 for t in phase2.values()])} s ({len(phase2):,} hosts) |")
    out.append(f"| T0 → applied, real processes at {a.percent} % | "
               f"{spread(applied1)} s ({len(applied1)} of {n_real}: "
               f"{', '.join(f'host-{i}' for i in real_staged) or 'none'}) |")
    out.append(f"| T1 → applied, the other real processes | {spread(applied2)} s ({len(applied2)}) |")
    n43 = sum(1 for v in answers_staged.values() if v == "answer 43")
    n42 = sum(1 for v in answers_staged.values() if v == "answer 42")
    odd = f", {n_real - n43 - n42} no answer" if n43 + n42 < n_real else ""
    out.append(f"| answers before the promotion | {n43} answer 43 (the {len(real_staged)} in the share), "
               f"{n42} answer 42{odd} |")
    out.append(f"| answers at the end | {sum(1 for v in answers_end.values() if v == 'answer 43')} of "
               f"{n_real} answer 43 |")
    out.append(f"| CPU | agents {agent_cpu:.1f} s ({agent_cpu / elapsed:.2f} cores), nginx "
               f"{nginx1 - nginx0:.1f} s, driver {driver_cpu:.1f} s; the machine was "
               f"{busy:.2f} of {os.cpu_count()} cores busy (other work included), load average "
               f"{min(load):.1f}–{max(load):.1f} |")
    out.append("")
    out.append("Registry traffic from nginx's access log (bytes sent with headers):")
    out.append("")
    out.append("| window | s | requests/s | 200 / 304 | 200/s / 304/s | bytes | bytes 200 / 304 | bytes/s |")
    out.append("|---|---|---|---|---|---|---|---|")
    for name, lo, hi in windows:
        out.append(window_row(name, lo, hi))
    out.append("")
    out.append("| request | status | count | bytes |")
    out.append("|---|---|---|---|")
    for (kind, status), (n, b) in sorted(by_path.items()):
        out.append(f"| {kind} | {status} | {n:,} | {b:,} |")
    report = "\n".join(out)
    print(report)

    with open(os.path.join(a.work, "figures.json"), "w") as f:
        json.dump({"T0": T0, "T1": T1, "start": t_start, "end": t_end, "took_staged": took_set,
                   "expected": expected, "answers_staged": answers_staged, "answers_end": answers_end,
                   "runs": [[r.host.index, r.due, r.start, r.end, r.cpu, r.rc] for r in d.runs]}, f)
    for host, lines in list(other.items())[:5]:
        say(f"{host} logged: " + " | ".join(lines[:3]))
    for r in failed_runs[:5]:
        say(f"{r.host.id}: agent exited {r.rc} (see {r.host.log})")
    if failures:
        for f in failures:
            say("FAIL: " + f)
        return 1
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
