/**
 * A hand-written leecher for tests: a raw TCP peer built on the wire codecs that does exactly what
 * the test tells it — well-behaved downloads, or hostile requests, cancels, floods and garbage — and
 * records everything the other side sends and whether (and how) it closed the connection.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import {
  encodeHandshake,
  encodeMessage,
  makeReserved,
  type Handshake,
  type WireMessage,
} from '../../src/protocol/wire.js';
import { WireFramer } from '../../src/protocol/wire-framing.js';

export interface RawLeecherOptions {
  port: number;
  host?: string;
  infoHash: Uint8Array;
  pieceCount: number;
  /** Announce BEP 6 (fast extension) / BEP 10 (extension protocol) in the handshake. */
  fast?: boolean;
  extended?: boolean;
  /** Largest message accepted from the seed (default 128 KiB + 13, so an oversized block is seen, not a framing error). */
  maxMessageLength?: number;
}

export interface Block {
  index: number;
  begin: number;
  length: number;
}

export const blockKey = (b: Block) => `${b.index}:${b.begin}:${b.length}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RawLeecher {
  readonly peerId = Buffer.concat([Buffer.from('-TS0001-'), randomBytes(12)]);
  /** The seed's handshake, once received. */
  handshake: Handshake | undefined;
  /** Every message from the seed, in order (a `piece` block is copied). */
  readonly messages: WireMessage[] = [];
  choked = true;
  closed = false;
  /** The seed closed the connection (end of stream or reset) — we had not closed it. */
  closedByRemote = false;
  /** A framing error in what the seed sent (a test failure unless expected). */
  framingError: Error | undefined;
  /** Called for each message as it arrives (the `piece` block is a view: copy it to keep it). */
  onMessage: ((m: WireMessage) => void) | undefined;
  private weClosed = false;
  private readonly closedWaiters: (() => void)[] = [];

  private constructor(
    readonly socket: Socket,
    readonly localPort: number,
  ) {}

  /** Connects and sends our handshake (unless `sendHandshake` is false). */
  static async connect(o: RawLeecherOptions, sendHandshake = true): Promise<RawLeecher> {
    const socket = connect({ host: o.host ?? '127.0.0.1', port: o.port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const l = new RawLeecher(socket, socket.localPort!);
    const framer = new WireFramer({
      handshake: true,
      limits: { pieceCount: o.pieceCount, maxMessageLength: o.maxMessageLength ?? 128 * 1024 + 13 },
    });
    socket.on('data', (chunk: Buffer) => {
      if (l.framingError) return;
      try {
        framer.push(chunk, (e) => {
          if (e.type === 'handshake') {
            l.handshake = e.handshake;
            return;
          }
          if (e.type === 'choke') l.choked = true;
          if (e.type === 'unchoke') l.choked = false;
          l.messages.push(e.type === 'piece' ? { ...e, block: Buffer.from(e.block) } : e);
          l.onMessage?.(e);
        });
      } catch (err) {
        l.framingError = err as Error;
      }
    });
    const remote = () => {
      if (!l.weClosed) l.closedByRemote = true;
    };
    socket.on('end', remote);
    socket.on('error', remote);
    socket.on('close', () => {
      l.closed = true;
      for (const w of l.closedWaiters.splice(0)) w();
    });
    if (sendHandshake)
      l.write(
        encodeHandshake({
          reserved: makeReserved({ fast: o.fast ?? false, extended: o.extended ?? false }),
          infoHash: o.infoHash,
          peerId: l.peerId,
        }),
      );
    return l;
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  send(m: WireMessage): void {
    this.write(encodeMessage(m));
  }

  request(b: Block): void {
    this.send({ type: 'request', ...b });
  }

  /** `piece` messages received, by block key. */
  pieces(): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const m of this.messages)
      if (m.type === 'piece')
        out.set(blockKey({ index: m.index, begin: m.begin, length: m.block.length }), m.block as Buffer);
    return out;
  }

  rejects(): Block[] {
    return this.messages.flatMap((m) =>
      m.type === 'reject' ? [{ index: m.index, begin: m.begin, length: m.length }] : [],
    );
  }

  /** Waits until `pred()` holds; throws naming `what` after `ms`. */
  async until(pred: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end)
        throw new Error(
          `${what}: not within ${ms} ms (closed: ${this.closed}, messages: ${this.messages.map((m) => m.type).join(',')})`,
        );
      await sleep(5);
    }
  }

  /** Resolves once the socket is closed (by either side); throws after `ms`. */
  waitClosed(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`connection not closed within ${ms} ms`)), ms);
      this.closedWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Handshake received, then interested; resolves once unchoked. */
  async interestedAndUnchoked(ms: number): Promise<void> {
    await this.until(() => this.handshake !== undefined, ms, 'handshake');
    this.send({ type: 'interested' });
    await this.until(() => !this.choked, ms, 'unchoke');
  }

  /** Closes our side (the test's own close, not counted as the remote's). */
  destroy(): void {
    this.weClosed = true;
    this.socket.destroy();
  }
}

/** Every block of a torrent, in order (16 KiB blocks, the last of each piece possibly shorter). */
export function allBlocks(length: number, pieceLength: number, blockLength = 16384): Block[] {
  const out: Block[] = [];
  for (let index = 0; index * pieceLength < length; index++) {
    const size = Math.min(pieceLength, length - index * pieceLength);
    for (let begin = 0; begin < size; begin += blockLength)
      out.push({ index, begin, length: Math.min(blockLength, size - begin) });
  }
  return out;
}

/**
 * A well-behaved download of every block over `l` (already unchoked or about to be): keeps `depth`
 * requests in flight, re-requests what a choke discarded or a reject refused, checks each block
 * against `data`. Resolves with the bytes; rejects on a wrong block, a close, or after `ms`.
 */
export function downloadAll(
  l: RawLeecher,
  data: Uint8Array,
  pieceLength: number,
  o: { depth?: number; ms: number },
): Promise<Buffer> {
  const depth = o.depth ?? 16;
  const blocks = allBlocks(data.length, pieceLength);
  const out = Buffer.alloc(data.length);
  const pending = [...blocks];
  const outstanding = new Map<string, Block>();
  const got = new Set<string>();
  return new Promise<Buffer>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(watch);
      l.onMessage = undefined;
      if (err) reject(err);
      else resolve(out);
    };
    const timer = setTimeout(
      () => finish(new Error(`download: ${got.size}/${blocks.length} blocks within ${o.ms} ms`)),
      o.ms,
    );
    const watch = setInterval(() => {
      if (l.closed) finish(new Error(`download: connection closed after ${got.size}/${blocks.length} blocks`));
    }, 10);
    const pump = () => {
      while (!l.choked && outstanding.size < depth && pending.length > 0) {
        const b = pending.shift()!;
        if (got.has(blockKey(b))) continue;
        outstanding.set(blockKey(b), b);
        l.request(b);
      }
    };
    l.onMessage = (m) => {
      if (m.type === 'piece') {
        const b = { index: m.index, begin: m.begin, length: m.block.length };
        const key = blockKey(b);
        const at = m.index * pieceLength + m.begin;
        if (!Buffer.from(m.block).equals(Buffer.from(data.subarray(at, at + m.block.length))))
          return finish(new Error(`block ${key}: wrong bytes`));
        if (!got.has(key)) {
          got.add(key);
          out.set(m.block, at);
        }
        outstanding.delete(key);
        if (got.size === blocks.length) return finish();
      } else if (m.type === 'reject') {
        const b = outstanding.get(blockKey(m));
        if (b) {
          outstanding.delete(blockKey(m));
          pending.unshift(b);
        }
      } else if (m.type === 'choke') {
        // BEP 3: a choke discards our requests; ask again after the next unchoke.
        pending.unshift(...outstanding.values());
        outstanding.clear();
      }
      pump();
    };
    pump();
  });
}
