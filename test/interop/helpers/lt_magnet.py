#!/usr/bin/python3
"""Downloads a magnet link with libtorrent on 127.0.0.1 (plain TCP, no DHT): the metadata must come
over ut_metadata (BEP 9) from the link's x.pe peers. Exits 0 once complete, 4 when no metadata arrived
in time, 3 when the data did not.

  lt_magnet.py MAGNET OUTDIR PORT [--timeout SEC] [--count-hashes]

Prints `metadata SIZE BYTES in T s` on stderr when the metadata arrives. With --count-hashes (BEP 52)
it also prints, at the end, the hash messages of its peer log by direction:
`hash messages: {"sent HASH_REQUEST": N, "received HASHES": N, ...}`.
"""
import argparse
import json
import re
import sys
import time

import libtorrent as lt

from lt_session import loopback_session

ap = argparse.ArgumentParser()
ap.add_argument('magnet')
ap.add_argument('outdir')
ap.add_argument('port', type=int)
ap.add_argument('--timeout', type=float, default=60)
ap.add_argument('--count-hashes', action='store_true')
a = ap.parse_args()

ses = loopback_session(a.port, **({'alert_mask': lt.alert.category_t.all_categories} if a.count_hashes else {}))
hash_messages = {}


def count_hashes():
    for al in ses.pop_alerts():
        if isinstance(al, lt.peer_log_alert):
            m = re.search(r'(==>|<==) (HASH_REQUEST|HASHES|HASH_REJECT) ', al.message())
            if m:
                k = ('sent ' if m.group(1) == '==>' else 'received ') + m.group(2)
                hash_messages[k] = hash_messages.get(k, 0) + 1


p = lt.parse_magnet_uri(a.magnet)
p.save_path = a.outdir
h = ses.add_torrent(p)
t0 = time.monotonic()
have_metadata = False
while time.monotonic() - t0 < a.timeout:
    time.sleep(0.2)
    if a.count_hashes:
        count_hashes()
    st = h.status()
    if st.has_metadata and not have_metadata:
        have_metadata = True
        size = h.torrent_file().metadata_size()
        print(f'metadata {size} bytes in {time.monotonic() - t0:.1f} s', file=sys.stderr, flush=True)
    if st.is_seeding:
        if a.count_hashes:
            count_hashes()
            print('hash messages: ' + json.dumps(hash_messages), file=sys.stderr, flush=True)
        print(f'complete in {time.monotonic() - t0:.1f} s', file=sys.stderr, flush=True)
        sys.exit(0)
st = h.status()
print(f'timeout: metadata {st.has_metadata}, progress {st.progress:.3f}, peers {st.num_peers}', file=sys.stderr, flush=True)
sys.exit(3 if st.has_metadata else 4)
