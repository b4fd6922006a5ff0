#!/usr/bin/python3
"""Runs one command and measures it: wall time, CPU (user + sys) and peak RSS of the process and
every descendant it waited for, from the kernel's wait4() rusage. Writes one JSON object to --out.

  measure.py --out FILE [--done-file F] [--sample-ms 100] -- CMD ARGS...

wall_s      monotonic seconds from just before the spawn to the exit (wait4 return)
done_s      with --done-file: seconds from the spawn until F appeared (completion of a client that
            does not exit by itself); the command is still waited for, and its CPU counted
user_s, sys_s, maxrss_kb   ru_utime, ru_stime, ru_maxrss of wait4 (children included once reaped;
            maxrss is that of the largest single process of the tree)
peak_rss_kb, peak_anon_kb  the largest sum of VmRSS / RssAnon over the process tree, sampled from
            /proc every --sample-ms (anon excludes file pages, e.g. libtorrent's mmapped data)
rc          exit status, or -N for a signal N

SIGTERM / SIGINT are passed on to the command; the measurement is still written when it exits.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument('--out', required=True)
ap.add_argument('--done-file')
ap.add_argument('--sample-ms', type=float, default=100)
ap.add_argument('cmd', nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == '--' else a.cmd
if not cmd:
    ap.error('no command')


def tree(pid):
    """pid and its descendants (via /proc/PID/task/TID/children)"""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f'/proc/{p}/task'):
                with open(f'/proc/{p}/task/{tid}/children') as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def status_kb(pid):
    rss = anon = 0
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    rss = int(line.split()[1])
                elif line.startswith('RssAnon:'):
                    anon = int(line.split()[1])
    except OSError:
        pass
    return rss, anon


peak = {'rss': 0, 'anon': 0}
done_at = [None]
finished = threading.Event()

t0 = time.monotonic()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)


def sampler():
    while not finished.is_set():
        rss = anon = 0
        for p in tree(pid):
            r, n = status_kb(p)
            rss += r
            anon += n
        peak['rss'] = max(peak['rss'], rss)
        peak['anon'] = max(peak['anon'], anon)
        if a.done_file and done_at[0] is None and os.path.exists(a.done_file):
            done_at[0] = time.monotonic() - t0
        finished.wait(a.sample_ms / 1000)


def forward(sig, _frame):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


signal.signal(signal.SIGTERM, forward)
signal.signal(signal.SIGINT, forward)
th = threading.Thread(target=sampler, daemon=True)
th.start()
while True:
    try:
        _, status, ru = os.wait4(pid, 0)
        break
    except InterruptedError:
        continue
wall = time.monotonic() - t0
finished.set()
th.join(1)
if a.done_file and done_at[0] is None and os.path.exists(a.done_file):
    done_at[0] = wall
rc = os.waitstatus_to_exitcode(status)
res = {
    'rc': rc,
    'wall_s': round(wall, 3),
    'done_s': None if done_at[0] is None else round(done_at[0], 3),
    'user_s': round(ru.ru_utime, 3),
    'sys_s': round(ru.ru_stime, 3),
    'maxrss_kb': ru.ru_maxrss,
    'peak_rss_kb': peak['rss'],
    'peak_anon_kb': peak['anon'],
}
with open(a.out + '.tmp', 'w') as f:
    json.dump(res, f)
os.replace(a.out + '.tmp', a.out)
sys.exit(rc if rc >= 0 else 128 - rc)
