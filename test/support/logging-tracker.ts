/**
 * A logging HTTP tracker for tests: it writes down every announce it gets (event, left, port, counters,
 * in order) and answers with a fixed list of peers, encoded with the bencode package — an outsider's
 * view of the tracker conversation, independent of bt-actor's own tracker code.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import bencode from 'bencode';

export interface LoggedAnnounce {
  /** `started`, `completed`, `stopped`, or `` for a regular announce. */
  event: string;
  left: number;
  downloaded: number;
  uploaded: number;
  port: number;
}

export interface LoggingTracker {
  url: string;
  log: LoggedAnnounce[];
  /** The peers given in every reply (IPv4 `host:port`). */
  peers: string[];
  close(): Promise<void>;
}

export async function loggingTracker(peers: string[] = []): Promise<LoggingTracker> {
  const log: LoggedAnnounce[] = [];
  const t = { peers };
  const server: Server = createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    log.push({
      event: q.get('event') ?? '',
      left: Number(q.get('left')),
      downloaded: Number(q.get('downloaded')),
      uploaded: Number(q.get('uploaded')),
      port: Number(q.get('port')),
    });
    const compact = Buffer.concat(
      t.peers.map((p) => {
        const [host, port] = p.split(':');
        const b = Buffer.alloc(6);
        host!.split('.').forEach((x, i) => b.writeUInt8(Number(x), i));
        b.writeUInt16BE(Number(port), 4);
        return b;
      }),
    );
    res.end(Buffer.from(bencode.encode({ interval: 60, complete: 1, incomplete: 0, peers: compact })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/announce`,
    log,
    get peers() {
      return t.peers;
    },
    set peers(p: string[]) {
      t.peers = p;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
