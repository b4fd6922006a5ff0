#!/usr/bin/python3
"""A libtorrent peer on 127.0.0.1 (plain TCP, no DHT, ut_pex on) for a .torrent (a seed when OUTDIR
holds the data, else a leecher): it listens, dials the --connect ports, and reports each peer it is
connected to, once, as a JSON line {"ev": "peer", "addr": "127.0.0.1:P", "source": ["pex", ...]} (how
libtorrent learnt it), and {"ev": "finished"} once it has every piece. Runs until --timeout (then exits
0) or until it is stopped.

With --no-pex the session has no ut_pex (ut_metadata and smart_ban only): it neither sends nor learns
peers by PEX, so it is only ever dialled by the peers others name to it.

  lt_peers.py TORRENT OUTDIR PORT [--connect PORT]... [--timeout SEC] [--no-pex]
"""
import argparse
import json
import time

import libtorrent as lt

from lt_session import loopback_session, loopback_settings

ap = argparse.ArgumentParser()
ap.add_argument('torrent')
ap.add_argument('outdir')
ap.add_argument('port', type=int)
ap.add_argument('--connect', type=int, action='append', default=[])
ap.add_argument('--timeout', type=float, default=60)
ap.add_argument('--no-pex', action='store_true')
a = ap.parse_args()


def sources(src):
    return [n for n in ('tracker', 'dht', 'pex', 'lsd', 'resume_data', 'incoming') if src & getattr(lt.peer_info, n, 0)]


if a.no_pex:
    ses = lt.session(loopback_settings(a.port), 0)
    ses.add_extension('ut_metadata')
    ses.add_extension('smart_ban')
else:
    ses = loopback_session(a.port)
p = lt.add_torrent_params()
p.ti = lt.torrent_info(a.torrent)
p.save_path = a.outdir
h = ses.add_torrent(p)
print(json.dumps({'ev': 'listen', 'port': a.port}), flush=True)
for port in a.connect:
    h.connect_peer(('127.0.0.1', port))
seen = set()
finished = False
t0 = time.monotonic()
while time.monotonic() - t0 < a.timeout:
    time.sleep(0.05)
    if not finished and h.status().is_seeding:
        finished = True
        print(json.dumps({'ev': 'finished'}), flush=True)
    for pi in h.get_peer_info():
        key = f'{pi.ip[0]}:{pi.ip[1]}'
        if key not in seen:
            seen.add(key)
            print(json.dumps({'ev': 'peer', 'addr': key, 'source': sources(pi.source)}), flush=True)
