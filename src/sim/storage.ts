/**
 * Storage for simulated nodes: no node keeps bytes. A torrent's content is a pure function of the
 * scenario's seed ({@link Content}), so a node only records which pieces it has verified; a block it
 * uploads is read from the content (kept once for the whole swarm when small). Writes are checked with
 * SHA-1 against the metainfo like the real storage, and may be slow (a disk of `writeBps`): the torrent
 * then waits for `storage.verified` and its write backlog is what holds memory, as with a slow real disk.
 */
import { createHash } from 'node:crypto';
import { fromCallback } from 'xstate';
import type { blockReaderActor, storageActor } from '../io/storage-actor.js';
import { blockHashesOf } from '../protocol/piece-verify.js';
import { Bitfield } from '../protocol/bitfield.js';
import type { Metainfo } from '../protocol/metainfo.js';
import type { BlockReadEvent, ReadBlock, ReadFailure, ReaderCommand } from '../protocol/peer-wire-types.js';
import type { StorageCommand, StorageEvent } from '../protocol/storage-types.js';
import type { StorageSeam, TorrentStorageActors } from '../app/runtime.js';
import type { VirtualClock } from './scheduler.js';

/** Content up to this size is generated once and kept (every node of a swarm reads the same bytes). */
const KEEP_MAX = 256 * 1024 * 1024;

/**
 * A torrent's bytes as a function of their offset (seeded): no node stores any. A content of up to
 * {@link KEEP_MAX} is generated once, at its first read, and kept for every node of the swarm; a larger
 * one is generated again at each read.
 */
export class Content {
  private kept: Buffer | undefined;

  constructor(
    readonly seed: number,
    readonly length: number,
    /** Kept whole when no longer than this ({@link KEEP_MAX}). */
    private readonly keepMax = KEEP_MAX,
  ) {}

  /** Bytes [start, start + length) of the content, in a buffer of their own (the caller may change it). */
  bytes(start: number, length: number): Buffer {
    return Buffer.from(this.view(start, length));
  }

  /** Bytes [start, start + length) of the content, possibly shared with other readers: not to be changed. */
  view(start: number, length: number): Buffer {
    const end = Math.min(this.length, start + length);
    if (this.length > this.keepMax) return this.generate(start, end);
    this.kept ??= this.generate(0, this.length);
    return this.kept.subarray(start, end);
  }

  private generate(start: number, end: number): Buffer {
    const first = start >>> 2;
    const words = ((end + 3) >>> 2) - first;
    const out = Buffer.allocUnsafe(words * 4 + 4);
    // An aligned view for the words (a pool slice of allocUnsafe may start anywhere).
    const pad = (4 - (out.byteOffset & 3)) & 3;
    const view = new Int32Array(out.buffer, out.byteOffset + pad, words);
    const seed = this.seed;
    for (let i = 0; i < words; i++) {
      let h = Math.imul(seed ^ (first + i), 0x9e3779b1);
      h ^= h >>> 16;
      h = Math.imul(h, 0x85ebca6b);
      h ^= h >>> 13;
      view[i] = h;
    }
    const skip = start - first * 4;
    return out.subarray(pad + skip, pad + skip + (end - start));
  }

  /** The SHA-1 of every piece, concatenated (the metainfo's `pieces`). */
  pieceHashes(pieceLength: number): Uint8Array {
    const count = Math.ceil(this.length / pieceLength);
    const out = new Uint8Array(count * 20);
    for (let i = 0; i < count; i++)
      out.set(
        createHash('sha1')
          .update(this.view(i * pieceLength, pieceLength))
          .digest(),
        i * 20,
      );
    return out;
  }
}

export interface SimStorageOptions {
  clock: VirtualClock;
  content: Content;
  /** The node starts with every piece (a seed). */
  complete: boolean;
  /** Disk write speed in bytes per second (Infinity: instant). */
  writeBps?: number;
  /** Serve corrupt data for the blocks this picks (a poisoner). */
  corrupt?: (index: number, begin: number) => boolean;
}

/** What one simulated node's storage saw (the scenarios' figures). */
export interface SimStorageStats {
  written: number;
  hashFailed: number;
  /** Pieces written to the disk but not yet done (slow disk), now and at most. */
  queued: number;
  maxQueued: number;
  blocksRead: number;
  have: Bitfield | undefined;
}

type StorageLogic = ReturnType<typeof storageActor>;
type ReaderLogic = ReturnType<typeof blockReaderActor>;

/** The storage seam of one node. Its `stats` are read by the scenarios. */
export function simStorage(options: SimStorageOptions): StorageSeam & { stats: SimStorageStats } {
  const stats: SimStorageStats = { written: 0, hashFailed: 0, queued: 0, maxQueued: 0, blocksRead: 0, have: undefined };
  const { clock, content } = options;
  const writeBps = options.writeBps ?? Infinity;
  let diskFreeAt = 0;
  return {
    stats,
    actors(meta: Metainfo): TorrentStorageActors {
      stats.have ??= options.complete ? Bitfield.full(meta.pieceCount) : new Bitfield(meta.pieceCount);
      const have = stats.have;
      const hashesOf = blockHashesOf(meta);
      const storage = fromCallback<StorageCommand>(({ sendBack, receive }) => {
        let alive = true;
        const send = (e: StorageEvent) => alive && sendBack(e);
        queueMicrotask(() => send({ type: 'storage.ready', have: have.toBytes() }));
        receive((cmd) => {
          if (cmd.type === 'storage.close') {
            queueMicrotask(() => send({ type: 'storage.closed' }));
            return;
          }
          // A torrent with its metainfo never asks to open a fetched one (magnet links are not simulated).
          if (cmd.type !== 'storage.write') return;
          const { index, data } = cmd;
          const digest = createHash('sha1').update(data).digest();
          const good = Buffer.from(meta.pieces.subarray(index * 20, index * 20 + 20)).equals(digest);
          // Block hashes now: the torrent reuses the buffer once it hears the verdict.
          const hashes = !good || cmd.blockHashes ? hashesOf(index, data) : undefined;
          if (!good) {
            stats.hashFailed++;
            queueMicrotask(() => send({ type: 'storage.hashFailed', index, blockHashes: hashes! }));
            return;
          }
          const start = Math.max(clock.now(), diskFreeAt);
          diskFreeAt = start + (Number.isFinite(writeBps) ? (data.length * 1000) / writeBps : 0);
          stats.queued++;
          stats.maxQueued = Math.max(stats.maxQueued, stats.queued);
          clock.setTimeout(() => {
            stats.queued--;
            stats.written++;
            have.set(index);
            send({ type: 'storage.verified', index, ...(hashes && { blockHashes: hashes }) });
          }, diskFreeAt - clock.now());
        });
        return () => void (alive = false);
      }) as unknown as StorageLogic;
      const reader = fromCallback<ReaderCommand>(({ sendBack, receive }) => {
        let alive = true;
        const answer = (e: BlockReadEvent) => queueMicrotask(() => alive && sendBack(e));
        receive((cmd) => {
          // The simulated swarm's torrents are v1: no merkle leaves to give.
          if (cmd.type === 'hash.leaves')
            return answer({ type: 'hash.leavesFailed', range: cmd.range, code: 'BT_ERR_NOT_VERIFIED', message: 'v1' });
          // One answer per batch. The blocks of a piece are generated as one span (from the first
          // block's start to the last one's end): one allocation, the blocks views of it.
          const blocks: ReadBlock[] = [];
          const failed: ReadFailure[] = [];
          const spans = new Map<number, { start: number; end: number; data?: Buffer }>();
          for (const { index, begin, length } of cmd.blocks) {
            if (!have.has(index)) continue;
            const span = spans.get(index);
            if (!span) spans.set(index, { start: begin, end: begin + length });
            else {
              span.start = Math.min(span.start, begin);
              span.end = Math.max(span.end, begin + length);
            }
          }
          for (const { index, begin, length } of cmd.blocks) {
            if (!have.has(index)) {
              failed.push({
                index,
                begin,
                length,
                code: 'BT_ERR_NOT_VERIFIED',
                message: `piece ${index} is not verified`,
              });
              continue;
            }
            const span = spans.get(index)!;
            span.data ??= content.view(index * meta.pieceLength + span.start, span.end - span.start);
            stats.blocksRead++;
            const data = span.data.subarray(begin - span.start, begin - span.start + length);
            // A corrupt block gets its own bytes (the span may hold another request of the same range).
            const bad = options.corrupt?.(index, begin) ? Buffer.from(data) : undefined;
            if (bad) bad[0] = bad[0]! ^ 0xff;
            blocks.push({ index, begin, length, data: bad ?? data });
          }
          answer({ type: 'upload.blocks', blocks, failed });
        });
        return () => void (alive = false);
      }) as unknown as ReaderLogic;
      return { storage, reader };
    },
  };
}
