/**
 * A hostile seeder for tests: a plain BitTorrent peer on 127.0.0.1 (raw TCP) that says it has every
 * piece and then misbehaves as told (libtorrent, even in seed mode, refuses to serve a piece that fails
 * its own hash, so a real client cannot play this part):
 * - `corrupt`: serves requests, flipping a byte of every block of these pieces (`'all'`: of every block);
 * - `stray`: right after the handshake sends this many blocks nobody asked for — garbage, into a few
 *   pieces — and hangs up;
 * - `bitfields`: sends this many more bitfields after the first (a protocol violation).
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
  /** Blocks sent with wrong bytes (corrupt or stray). */
  badBlocks: number;
  connections: number;
  /** `ip:port` keys bt-actor knows this peer by: the listening address. */
  key: string;
  stop: () => Promise<void>;
}

export async function hostileSeeder(
  meta: Metainfo,
  data: Uint8Array,
  opts: { corrupt?: number[] | 'all'; stray?: number; bitfields?: number },
): Promise<HostileSeeder> {
  const sockets = new Set<Socket>();
  const served = new Map<number, number>();
  const state = { connections: 0, badBlocks: 0 };
  const corrupt = (index: number) =>
    opts.corrupt === 'all' || (opts.corrupt !== undefined && opts.corrupt.includes(index));
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
            const bitfield = encodeMessage({ type: 'bitfield', bytes: Bitfield.full(meta.pieceCount).toBytes() });
            socket.write(bitfield);
            for (let i = 0; i < (opts.bitfields ?? 0); i++) socket.write(bitfield);
            socket.write(encodeMessage({ type: 'unchoke' }));
            if (opts.stray) {
              // Garbage blocks into the first few pieces, unasked, then gone.
              for (let i = 0; i < opts.stray; i++) {
                const index = i % Math.min(4, meta.pieceCount);
                const begin = Math.floor(i / 4) * 16384;
                if (begin + 16384 > meta.pieceLength) break;
                socket.write(encodePieceHeader(index, begin, 16384));
                socket.write(randomBytes(16384));
                state.badBlocks++;
              }
              socket.end();
            }
          } else if (e.type === 'request') {
            const start = e.index * meta.pieceLength + e.begin;
            const block = Buffer.from(data.subarray(start, start + e.length));
            if (corrupt(e.index)) {
              block[0] = block[0]! ^ 0xff;
              state.badBlocks++;
            }
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
    key: `127.0.0.1:${port}`,
    served,
    get badBlocks() {
      return state.badBlocks;
    },
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
