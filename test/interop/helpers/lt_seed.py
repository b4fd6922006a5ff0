#!/usr/bin/python3
"""Seeds one torrent with libtorrent (python3-libtorrent) on 127.0.0.1, plain TCP, until killed.

  lt_seed.py TORRENT DATADIR PORT [--ready FILE] [--trust] [--announce-every SEC] [--upload-limit B/s]
             [--forced-encryption] [--host ADDR] [--unchoke-slots N] [--allowed-fast K]

--host: listen (and dial) on this loopback address instead of 127.0.0.1, e.g. ::1 (IPv6 only).

--trust: seed_mode (serve the data without hashing it first) — how a test makes a seeder that serves
a corrupted piece. Writes FILE once seeding. Loopback needs: DHT/LSD/UPnP/NAT-PMP and uTP off, several
connections per IP, no outgoing encryption (the settings live in lt_session.py).
"""
import argparse
import sys
import time

import libtorrent as lt

from lt_session import FORCED_ENCRYPTION, loopback_session

ap = argparse.ArgumentParser()
ap.add_argument('torrent')
ap.add_argument('datadir')
ap.add_argument('port', type=int)
ap.add_argument('--ready')
ap.add_argument('--trust', action='store_true')
ap.add_argument('--announce-every', type=float, default=0)
ap.add_argument('--upload-limit', type=int, default=0, help='bytes/s, 0 = none')
ap.add_argument('--forced-encryption', action='store_true', help='MSE with RC4 only, both ways')
ap.add_argument('--host', default='127.0.0.1', help='address to listen and dial on (::1 for IPv6)')
ap.add_argument('--unchoke-slots', type=int, default=None, help='unchoke_slots_limit (0: unchoke nobody)')
ap.add_argument('--allowed-fast', type=int, default=None, help='allowed_fast_set_size (BEP 6)')
a = ap.parse_args()
extra = {}
if a.unchoke_slots is not None:
    extra['unchoke_slots_limit'] = a.unchoke_slots
if a.allowed_fast is not None:
    extra['allowed_fast_set_size'] = a.allowed_fast

ses = loopback_session(
    a.port,
    a.host,
    alert_mask=int(lt.alert_category.error | lt.alert_category.status),
    upload_rate_limit=a.upload_limit,
    **(FORCED_ENCRYPTION if a.forced_encryption else {}),
    **extra,
)
if a.upload_limit:
    # libtorrent exempts local peers from rate limits: put every address in the global peer class.
    f = lt.ip_filter()
    f.add_rule('0.0.0.0', '255.255.255.255', 1 << lt.session.global_peer_class_id)
    ses.set_peer_class_filter(f)

p = lt.add_torrent_params()
p.ti = lt.torrent_info(a.torrent)
p.save_path = a.datadir
p.flags &= ~lt.torrent_flags.auto_managed
p.flags &= ~lt.torrent_flags.paused
if a.trust:
    p.flags |= lt.torrent_flags.seed_mode
h = ses.add_torrent(p)
ready = False
last = time.monotonic()
while True:
    ses.wait_for_alert(200)
    for al in ses.pop_alerts():
        if al.category() & lt.alert_category.error:
            print('alert:', al.message(), file=sys.stderr, flush=True)
    st = h.status()
    if st.is_seeding and not ready:
        ready = True
        print(f'seeding on {a.host}:{a.port}', file=sys.stderr, flush=True)
        if a.ready:
            open(a.ready, 'w').write('ready\n')
    if a.announce_every and time.monotonic() - last > a.announce_every:
        h.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        last = time.monotonic()
