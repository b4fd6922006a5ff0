#!/usr/bin/python3
"""Downloads one torrent with libtorrent on 127.0.0.1 (plain TCP); exits 0 once complete.

  lt_leech.py TORRENT OUTDIR PORT [--peer PORT]... [--timeout SEC]

Peers come from the torrent's trackers and from --peer (127.0.0.1:PORT).
"""
import argparse
import sys
import time

import libtorrent as lt

from lt_session import loopback_session

ap = argparse.ArgumentParser()
ap.add_argument('torrent')
ap.add_argument('outdir')
ap.add_argument('port', type=int)
ap.add_argument('--peer', type=int, action='append', default=[])
ap.add_argument('--timeout', type=float, default=300)
a = ap.parse_args()

ses = loopback_session(a.port)
p = lt.add_torrent_params()
p.ti = lt.torrent_info(a.torrent)
p.save_path = a.outdir
h = ses.add_torrent(p)
for port in a.peer:
    h.connect_peer(('127.0.0.1', port))
t0 = time.monotonic()
while time.monotonic() - t0 < a.timeout:
    time.sleep(0.2)
    st = h.status()
    if st.is_seeding:
        print(f'complete in {time.monotonic() - t0:.1f} s', file=sys.stderr, flush=True)
        sys.exit(0)
st = h.status()
print(f'timeout: progress {st.progress:.3f}, peers {st.num_peers}', file=sys.stderr, flush=True)
sys.exit(3)
