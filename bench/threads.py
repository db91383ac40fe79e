#!/usr/bin/env python3
"""Each thread's CPU while a command runs, sampled from /proc once a second.

    python3 bench/threads.py [--every SECONDS] -- COMMAND [ARGS...]

Prints one line per sample: the seconds since the start, the whole process's CPU in that
interval (100 = one core) and each busy thread's share as NAME/TID:PERCENT; then, for each
thread, its CPU seconds, the seconds it was ready to run but waited for a CPU (the kernel's
`schedstat` run delay: time lost to the other threads and processes) and how often it gave
up its CPU itself (waiting for a queue, a lock or IO) or was preempted. The import names its threads (`import-reader`, `import-worker`; the writer
is the main thread), so a line shows which side of the import waits for the other
(BENCHMARKS.md, "The writer's queue"). Linux only; the command's output is discarded.
"""

import argparse
import os
import subprocess
import sys
import time


def sched(pid, tid):
    """(run delay in seconds, voluntary switches, involuntary switches) of a thread, or None."""
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            delay = int(f.read().split()[1]) / 1e9
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            status = dict(line.split(":", 1) for line in f if "ctxt_switches" in line)
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None
    return delay, int(status["voluntary_ctxt_switches"]), int(status["nonvoluntary_ctxt_switches"])


def threads(pid):
    """{tid: (name, cpu ticks)} of a running process; empty once it has gone."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[tid] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    hz = os.sysconf("SC_CLK_TCK")
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started, before, last, waits = time.time(), {}, {}, {}
    while child.poll() is None:
        time.sleep(args.every)
        now = threads(child.pid)
        if not now:
            break
        shares = []
        for tid, (name, ticks) in sorted(now.items(), key=lambda t: int(t[0])):
            used = ticks - before.get(tid, (name, 0))[1]
            if used:
                shares.append(f"{name}/{tid}:{100 * used / hz / args.every:.0f}")
        total = sum(t - before.get(k, (n, 0))[1] for k, (n, t) in now.items())
        print(f"{time.time() - started:6.1f}s {100 * total / hz / args.every:4.0f} " + " ".join(shares), flush=True)
        before = now
        last.update(now)
        for tid in now:
            waited = sched(child.pid, tid)
            if waited:
                waits[tid] = waited
    child.wait()
    print("CPU seconds by thread:", ", ".join(f"{n}/{k} {t / hz:.1f}" for k, (n, t) in last.items() if t))
    print("By thread, as last sampled: CPU s / waited for a CPU s / gave up the CPU / preempted")
    for k, (n, t) in sorted(last.items(), key=lambda t: int(t[0])):
        if t and k in waits:
            delay, voluntary, involuntary = waits[k]
            print(f"  {n}/{k}: {t / hz:.1f} / {delay:.1f} / {voluntary} / {involuntary}")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
