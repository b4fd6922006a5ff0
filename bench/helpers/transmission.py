#!/usr/bin/python3
"""transmission-cli (3.00) as a benchmark seeder or leecher on 127.0.0.1.

  transmission.py seed  TORRENT DATADIR PORT CONFDIR            seeds (after verifying) until killed
  transmission.py leech TORRENT OUTDIR  PORT CONFDIR [--timeout S]
        exits 0 once the torrent is complete (CONFDIR/DONE is touched by transmission's finish script
        at that moment), after stopping transmission-cli; 3 on timeout, 2 if it died

settings.json in CONFDIR: DHT, LPD, PEX, uTP and port forwarding off; encryption "tolerated" (prefer
plaintext; Transmission cannot refuse incoming MSE); bound to 127.0.0.1; no speed or ratio limits.
Transmission 3.00 never dials 127.x peers named by a tracker: as a leecher it gets data only from
seeders that dial it (libtorrent seeders re-announcing every second do).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument('mode', choices=['seed', 'leech'])
ap.add_argument('torrent')
ap.add_argument('dir')
ap.add_argument('port', type=int)
ap.add_argument('confdir')
ap.add_argument('--timeout', type=float, default=600)
a = ap.parse_args()

os.makedirs(a.confdir, exist_ok=True)
os.makedirs(a.dir, exist_ok=True)
settings = {
    'dht-enabled': False, 'lpd-enabled': False, 'pex-enabled': False, 'utp-enabled': False,
    'port-forwarding-enabled': False, 'encryption': 0, 'peer-port': a.port, 'peer-port-random-on-start': False,
    'bind-address-ipv4': '127.0.0.1', 'bind-address-ipv6': '::1', 'rpc-enabled': False,
    'download-dir': a.dir, 'incomplete-dir-enabled': False, 'rename-partial-files': False,
    'ratio-limit-enabled': False, 'idle-seeding-limit-enabled': False,
    'speed-limit-down-enabled': False, 'speed-limit-up-enabled': False, 'alt-speed-enabled': False,
    'blocklist-enabled': False, 'message-level': 1, 'peer-limit-global': 200, 'peer-limit-per-torrent': 60,
    'start-added-torrents': True, 'trash-original-torrent-files': False, 'cache-size-mb': 4,
}
with open(os.path.join(a.confdir, 'settings.json'), 'w') as f:
    json.dump(settings, f)

base = ['transmission-cli', '-g', a.confdir, '-w', a.dir, '-p', str(a.port), '-M', '-et', '-D', '-U']
if a.mode == 'seed':
    os.execvp('transmission-cli', base + ['-v', a.torrent])

done = os.path.join(a.confdir, 'DONE')
script = os.path.join(a.confdir, 'done.sh')
with open(script, 'w') as f:
    f.write(f"#!/bin/sh\ntouch '{done}'\n")
os.chmod(script, 0o755)
p = subprocess.Popen(base + ['-f', script, a.torrent], stdin=subprocess.DEVNULL)
stopping = [False]


def on_term(_sig, _frame):
    stopping[0] = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
end = time.monotonic() + a.timeout
rc = 3
while time.monotonic() < end and not stopping[0]:
    if os.path.exists(done):
        rc = 0
        break
    if p.poll() is not None:
        rc = 2
        break
    time.sleep(0.05)
if p.poll() is None:
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
print(f'transmission leecher: {"complete" if rc == 0 else "not complete"} (rc {rc})', file=sys.stderr, flush=True)
sys.exit(rc)
