/**
 * A hostile seeder for tests: a plain BitTorrent peer on 127.0.0.1 (raw TCP) that says it has every
 * piece and then misbehaves as told (libtorrent, even in seed mode, refuses to serve a piece that fails
 * its own hash, so a real client cannot play this part):
 * - `corrupt`: serves requests, flipping a byte of every block of these pieces (`'all'`: of every block);
 * - `stray`: right after the handshake sends this many blocks nobody asked for — garbage, into a few
 *   pieces — and hangs up;
 * - `bitfields`: sends this many more bitfields after the first (a protocol violation);
 * - `flood`: right after the handshake sends this many `have` messages and keep-alives, then serves;
 * - `slow`: serves each block in 1 KiB writes this many ms apart (a peer that trickles);
 * - `reset`: after serving this many blocks on a connection, sends half a block and resets it;
 * - `badHashes`: answers every BEP 52 `hash request` with `hashes` of the right count but wrong bytes;
 * - `rejectHashes`: answers every BEP 52 `hash request` with a `hash reject` (counted in `hashRequests`).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { hashCountOf } from '../../src/protocol/hash-tree.js';
import type { Metainfo } from '../../src/protocol/metainfo.js';
import { encodeHandshake, encodeMessage, encodePieceHeader, makeReserved } from '../../src/protocol/wire.js';
import { WireFramer } from '../../src/protocol/wire-framing.js';

export interface HostileSeeder {
  port: number;
  /** Blocks served per piece index. */
  served: Map<number, number>;
  /** Blocks sent with wrong bytes (corrupt or stray). */
  badBlocks: number;
  /** Connections that began with a BitTorrent handshake (answered). */
  connections: number;
  /** Connections that did not (an MSE key exchange: this peer knows no MSE), closed at once. */
  notBitTorrent: number;
  /** BEP 52 `hash request`s answered with wrong hashes (`badHashes`). */
  badHashes: number;
  /** BEP 52 `hash request`s rejected (`rejectHashes`). */
  hashRequests: number;
  /** `ip:port` keys bt-actor knows this peer by: the listening address. */
  key: string;
  stop: () => Promise<void>;
}

export async function hostileSeeder(
  meta: Metainfo,
  data: Uint8Array,
  opts: {
    corrupt?: number[] | 'all';
    stray?: number;
    bitfields?: number;
    flood?: number;
    slow?: number;
    reset?: number;
    badHashes?: boolean;
    rejectHashes?: boolean;
  },
): Promise<HostileSeeder> {
  const sockets = new Set<Socket>();
  const served = new Map<number, number>();
  const state = { connections: 0, badBlocks: 0, notBitTorrent: 0, badHashes: 0, hashRequests: 0 };
  const corrupt = (index: number) =>
    opts.corrupt === 'all' || (opts.corrupt !== undefined && opts.corrupt.includes(index));
  const peerId = Buffer.concat([Buffer.from('-XX0001-'), randomBytes(12)]);
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const framer = new WireFramer({ handshake: true, limits: { pieceCount: meta.pieceCount } });
    let sentHere = 0;
    let handshook = false;
    const slowQueue: Uint8Array[] = [];
    let slowTimer: NodeJS.Timeout | undefined;
    const trickle = () => {
      const next = slowQueue.shift();
      if (next && !socket.destroyed) socket.write(next);
      else if (!next) {
        clearInterval(slowTimer);
        slowTimer = undefined;
      }
    };
    socket.on('close', () => clearInterval(slowTimer));
    socket.on('data', (chunk) => {
      try {
        framer.push(chunk, (e) => {
          if (e.type === 'handshake') {
            state.connections++;
            handshook = true;
            socket.write(encodeHandshake({ reserved: makeReserved({}), infoHash: meta.infoHash, peerId }));
            const bitfield = encodeMessage({ type: 'bitfield', bytes: Bitfield.full(meta.pieceCount).toBytes() });
            socket.write(bitfield);
            for (let i = 0; i < (opts.bitfields ?? 0); i++) socket.write(bitfield);
            if (opts.flood) {
              const chunk: Uint8Array[] = [];
              for (let i = 0; i < opts.flood; i++) {
                chunk.push(encodeMessage({ type: 'have', index: i % meta.pieceCount }));
                if (i % 10 === 0) chunk.push(new Uint8Array(4)); // keep-alive
              }
              socket.write(Buffer.concat(chunk));
            }
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
          } else if (e.type === 'hash-request' && opts.badHashes) {
            const { type: _t, ...range } = e;
            const hashes = randomBytes(hashCountOf(range) * 32);
            state.badHashes++;
            socket.write(encodeMessage({ type: 'hashes', ...range, hashes }));
          } else if (e.type === 'hash-request' && opts.rejectHashes) {
            const { type: _t, ...range } = e;
            state.hashRequests++;
            socket.write(encodeMessage({ type: 'hash-reject', ...range }));
          } else if (e.type === 'request') {
            const start = e.index * meta.pieceLength + e.begin;
            const block = Buffer.from(data.subarray(start, start + e.length));
            if (corrupt(e.index)) {
              block[0] = block[0]! ^ 0xff;
              state.badBlocks++;
            }
            served.set(e.index, (served.get(e.index) ?? 0) + 1);
            sentHere++;
            if (opts.reset !== undefined && sentHere > opts.reset) {
              socket.write(encodePieceHeader(e.index, e.begin, block.length));
              socket.write(block.subarray(0, block.length >> 1));
              socket.resetAndDestroy();
              return;
            }
            if (opts.slow) {
              // Queued behind the blocks still trickling out, 1 KiB at a time.
              const parts = [encodePieceHeader(e.index, e.begin, block.length)];
              for (let at = 0; at < block.length; at += 1024) parts.push(block.subarray(at, at + 1024));
              slowQueue.push(...parts);
              if (!slowTimer) slowTimer = setInterval(trickle, opts.slow);
              return;
            }
            socket.write(encodePieceHeader(e.index, e.begin, block.length));
            socket.write(block);
          }
        });
      } catch {
        if (!handshook) state.notBitTorrent++;
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
    get badHashes() {
      return state.badHashes;
    },
    get hashRequests() {
      return state.hashRequests;
    },
    get connections() {
      return state.connections;
    },
    get notBitTorrent() {
      return state.notBitTorrent;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
