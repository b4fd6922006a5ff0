/**
 * A hostile seeder for tests: a plain BitTorrent peer on 127.0.0.1 that serves the torrent's data
 * from memory but corrupts the pieces it is told to (libtorrent, even in seed mode, refuses to serve
 * a piece that fails its own hash, so a real client cannot play this part).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Bitfield } from '../../src/protocol/bitfield.js';
import type { Metainfo } from '../../src/protocol/metainfo.js';
import { encodeHandshake, encodeMessage, encodePieceHeader, makeReserved } from '../../src/protocol/wire.js';
import { WireFramer } from '../../src/protocol/wire-framing.js';

export interface HostileSeeder {
  port: number;
  /** Blocks served per piece index. */
  served: Map<number, number>;
  connections: number;
  stop: () => Promise<void>;
}

export async function hostileSeeder(
  meta: Metainfo,
  data: Uint8Array,
  opts: { corrupt: number[] },
): Promise<HostileSeeder> {
  const sockets = new Set<Socket>();
  const served = new Map<number, number>();
  const state = { connections: 0 };
  const peerId = Buffer.concat([Buffer.from('-XX0001-'), randomBytes(12)]);
  const server: Server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const framer = new WireFramer({ handshake: true, limits: { pieceCount: meta.pieceCount } });
    socket.on('data', (chunk) => {
      try {
        framer.push(chunk, (e) => {
          if (e.type === 'handshake') {
            socket.write(encodeHandshake({ reserved: makeReserved({}), infoHash: meta.infoHash, peerId }));
            socket.write(encodeMessage({ type: 'bitfield', bytes: Bitfield.full(meta.pieceCount).toBytes() }));
            socket.write(encodeMessage({ type: 'unchoke' }));
          } else if (e.type === 'request') {
            const start = e.index * meta.pieceLength + e.begin;
            const block = Buffer.from(data.subarray(start, start + e.length));
            if (opts.corrupt.includes(e.index)) block[0] = block[0]! ^ 0xff;
            served.set(e.index, (served.get(e.index) ?? 0) + 1);
            socket.write(encodePieceHeader(e.index, e.begin, block.length));
            socket.write(block);
          }
        });
      } catch {
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    served,
    get connections() {
      return state.connections;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
