/**
 * A TCP gate on 127.0.0.1 in front of a BitTorrent peer that lets through only connections whose first
 * bytes are a plaintext handshake naming `allow` (20 bytes): how a test makes any peer act as one that
 * knows a torrent by that hash alone (BEP 52: a peer that knows a hybrid only as v2 refuses a v1
 * handshake). Every other connection (another hash, an MSE key exchange) is closed. It records the hash
 * each handshake named.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

const PROTOCOL = Buffer.from('\x13BitTorrent protocol', 'latin1');
const HANDSHAKE_LENGTH = 68;

export interface HandshakeGate {
  port: number;
  /** The info hash (hex) of every plaintext handshake that arrived, in order; `other` for anything else. */
  seen: string[];
  close(): Promise<void>;
}

export async function handshakeGate(targetPort: number, allow: Uint8Array): Promise<HandshakeGate> {
  const allowHex = Buffer.from(allow).toString('hex');
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server: Server = createServer((client) => {
    track(client);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length < HANDSHAKE_LENGTH) {
        if (!PROTOCOL.subarray(0, Math.min(head.length, PROTOCOL.length)).equals(head.subarray(0, PROTOCOL.length))) {
          seen.push('other');
          client.destroy();
        }
        return;
      }
      client.off('data', onData);
      if (!head.subarray(0, PROTOCOL.length).equals(PROTOCOL)) {
        seen.push('other');
        client.destroy();
        return;
      }
      const hash = head.subarray(28, 48).toString('hex');
      seen.push(hash);
      if (hash !== allowHex) {
        client.destroy();
        return;
      }
      client.pause();
      const upstream = connect({ host: '127.0.0.1', port: targetPort }, () => {
        upstream.write(head);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      track(upstream);
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
