"""The libtorrent (python3-libtorrent) session settings for a loopback swarm, shared by lt_seed.py,
lt_leech.py and the benchmark (bench/): plain TCP on 127.0.0.1 only (or on ::1 only, given host '::1').

Loopback needs: listen and dial on 127.0.0.1, DHT/LSD/UPnP/NAT-PMP and uTP off, several connections
per IP (every peer is 127.0.0.1), no outgoing encryption (incoming MSE is accepted, for WebTorrent);
see ../shared/lab/README.md.
"""
import libtorrent as lt


def loopback_settings(port, host='127.0.0.1'):
    """settings_pack (a dict) listening on host:port (127.0.0.1, or ::1 for IPv6)"""
    listen = f'[{host}]:{port}' if ':' in host else f'{host}:{port}'
    return {
        'listen_interfaces': listen,
        'outgoing_interfaces': host,
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'enable_incoming_utp': False, 'enable_outgoing_utp': False,
        'allow_multiple_connections_per_ip': True,
        'out_enc_policy': int(lt.enc_policy.disabled),
        'in_enc_policy': int(lt.enc_policy.enabled),
        'stop_tracker_timeout': 1,
    }


# Encryption required both ways (MSE/PE with an RC4 payload stream only): plaintext peers are refused.
FORCED_ENCRYPTION = {
    'out_enc_policy': int(lt.enc_policy.forced),
    'in_enc_policy': int(lt.enc_policy.forced),
    'allowed_enc_level': int(lt.enc_level.rc4),
}


def loopback_session(port, host='127.0.0.1', **extra):
    """a session with loopback_settings(port, host), updated with `extra` settings"""
    s = loopback_settings(port, host)
    s.update(extra)
    return lt.session(s)
