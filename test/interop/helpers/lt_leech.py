#!/usr/bin/python3
"""Downloads one torrent with libtorrent on 127.0.0.1 (plain TCP); exits 0 once complete.

  lt_leech.py TORRENT OUTDIR PORT [--peer PORT]... [--timeout SEC] [--forced-encryption] [--host ADDR]

Peers come from the torrent's trackers and from --peer (HOST:PORT, HOST the --host, default 127.0.0.1;
--host ::1 listens and dials on IPv6 only). Once complete it prints the addresses of the peers it
had while downloading (`peers: ADDR …`, IPv6 ones in brackets).
"""
import argparse
import sys
import time

import libtorrent as lt

from lt_session import FORCED_ENCRYPTION, loopback_session

ap = argparse.ArgumentParser()
ap.add_argument('torrent')
ap.add_argument('outdir')
ap.add_argument('port', type=int)
ap.add_argument('--peer', type=int, action='append', default=[])
ap.add_argument('--timeout', type=float, default=300)
ap.add_argument('--forced-encryption', action='store_true', help='MSE with RC4 only, both ways')
ap.add_argument('--host', default='127.0.0.1', help='address to listen and dial on (::1 for IPv6)')
a = ap.parse_args()

ses = loopback_session(a.port, a.host, **(FORCED_ENCRYPTION if a.forced_encryption else {}))
p = lt.add_torrent_params()
p.ti = lt.torrent_info(a.torrent)
p.save_path = a.outdir
h = ses.add_torrent(p)
for port in a.peer:
    h.connect_peer((a.host, port))
t0 = time.monotonic()
seen = set()
while time.monotonic() - t0 < a.timeout:
    time.sleep(0.2)
    for pi in h.get_peer_info():
        seen.add(f'[{pi.ip[0]}]:{pi.ip[1]}' if ':' in pi.ip[0] else f'{pi.ip[0]}:{pi.ip[1]}')
    st = h.status()
    if st.is_seeding:
        rc4 = sum(1 for pi in h.get_peer_info() if pi.flags & lt.peer_info.rc4_encrypted)
        print(f'complete in {time.monotonic() - t0:.1f} s (rc4 peers: {rc4})', file=sys.stderr, flush=True)
        print('peers:', ' '.join(sorted(seen)), file=sys.stderr, flush=True)
        sys.exit(0)
st = h.status()
print(f'timeout: progress {st.progress:.3f}, peers {st.num_peers}', file=sys.stderr, flush=True)
sys.exit(3)
