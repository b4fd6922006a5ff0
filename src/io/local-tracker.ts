/**
 * A small HTTP tracker (BEP 3, compact replies per BEP 23) for self-contained swarms: the demo and
 * tests. It keeps every announced peer of every torrent in memory and answers each announce with the
 * other peers. Not meant for the open internet (no limits beyond a peer cap per torrent).
 */
import { toHex } from '../protocol/bytes.js';
import { createServer, type Server } from 'node:http';
import { normaliseHost, peerKey, type PeerAddress } from '../protocol/peer-address.js';
import { encodeAnnounceResponse, parseAnnounceQuery } from '../protocol/tracker-http.js';

interface SwarmPeer {
  address: PeerAddress;
  seed: boolean;
}

export interface LocalTracker {
  url: string;
  /** Peers known per torrent (40-hex info hash). */
  swarm(infoHashHex: string): PeerAddress[];
  close(): Promise<void>;
}

/**
 * Starts the tracker on `host` (default 127.0.0.1; an IPv6 address such as `::1` gives a
 * `http://[::1]:P/announce` URL, and the peers announcing over IPv6 are handed out in `peers6`).
 */
export async function startLocalTracker(
  options: { host?: string; port?: number; interval?: number; maxPeers?: number } = {},
): Promise<LocalTracker> {
  const host = options.host ?? '127.0.0.1';
  const interval = options.interval ?? 60;
  const maxPeers = options.maxPeers ?? 1000;
  const swarms = new Map<string, Map<string, SwarmPeer>>();
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith('/announce')) {
      res.statusCode = 404;
      res.end();
      return;
    }
    let body: Uint8Array;
    try {
      const q = parseAnnounceQuery(url);
      const hex = toHex(q.infoHash);
      const swarm = swarms.get(hex) ?? new Map<string, SwarmPeer>();
      swarms.set(hex, swarm);
      const remote = normaliseHost(q.ip ?? req.socket.remoteAddress ?? '');
      if (!remote) throw new Error('no address');
      const address: PeerAddress = { host: remote.host, port: q.port, family: remote.family };
      const key = peerKey(address);
      if (q.event === 'stopped') swarm.delete(key);
      else if (swarm.size < maxPeers || swarm.has(key)) swarm.set(key, { address, seed: q.left === 0 });
      const others = [...swarm.entries()].filter(([k]) => k !== key).map(([, p]) => p);
      const want = Math.min(q.numwant ?? 50, 200);
      const seeds = [...swarm.values()].filter((p) => p.seed).length;
      body = encodeAnnounceResponse({
        type: 'success',
        interval,
        minInterval: Math.min(interval, 30),
        complete: seeds,
        incomplete: swarm.size - seeds,
        peers: others.slice(0, want).map((p) => p.address),
      });
    } catch (err) {
      body = encodeAnnounceResponse({ type: 'failure', reason: (err as Error).message });
    }
    res.setHeader('content-type', 'text/plain');
    res.end(Buffer.from(body));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  server.unref();
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/announce`,
    swarm: (hex) => [...(swarms.get(hex)?.values() ?? [])].map((p) => p.address),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
