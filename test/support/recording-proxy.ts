/**
 * A TCP proxy on 127.0.0.1 that records what crosses it, for tests that look at the wire between two
 * BitTorrent peers: every byte the dialler sends (`up`) and the dialled side sends (`down`), per
 * connection. `closeRecordingProxies()` closes every proxy made (call it in `afterAll`).
 *
 * @example
 * const proxy = await recordingProxy(seed.port); // dial proxy.port instead of seed.port
 * …
 * expect(messageIds(proxy.down())).toContain(MessageId.AllowedFast);
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

const servers: Server[] = [];

export interface RecordingProxy {
  port: number;
  /** Each connection's bytes, in the order they were accepted. */
  conns: { up: Buffer[]; down: Buffer[] }[];
  /** Everything the dialling side sent / the dialled side sent, over every connection. */
  up(): Buffer;
  down(): Buffer;
  /** Ends every connection through the proxy (the proxy keeps listening). */
  close(): void;
}

export async function recordingProxy(port: number): Promise<RecordingProxy> {
  const conns: { up: Buffer[]; down: Buffer[] }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const c = { up: [] as Buffer[], down: [] as Buffer[] };
    conns.push(c);
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (client.destroy(), upstream.destroy()));
    }
    client.on('data', (b) => (c.up.push(b), upstream.write(b)));
    upstream.on('data', (b) => (c.down.push(b), client.write(b)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    conns,
    up: () => Buffer.concat(conns.flatMap((c) => c.up)),
    down: () => Buffer.concat(conns.flatMap((c) => c.down)),
    close: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/** Closes every proxy {@link recordingProxy} made. */
export async function closeRecordingProxies(): Promise<void> {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
}

/** The message ids of one plaintext BitTorrent stream (one direction of a connection): the 68-byte handshake, then frames. */
export function messageIds(stream: Buffer): number[] {
  const ids: number[] = [];
  let at = 68;
  while (at + 4 <= stream.length) {
    const len = stream.readUInt32BE(at);
    if (at + 4 + len > stream.length) break;
    if (len > 0) ids.push(stream[at + 4]!);
    at += 4 + len;
  }
  return ids;
}
