/**
 * The upload side's block reader (src/io/storage-actor.ts `blockReaderActor`) over a real Storage in a
 * temporary folder, and its read-ahead (src/io/read-cache.ts): a batch of blocks is one command and one
 * `upload.blocks` answer with the right bytes; adjacent blocks of a piece cost one positional read (a
 * span), the next batch of the same span none; pieces not verified, a closed storage and bad ranges
 * are failures of their own blocks, not of the batch; the cache stays bounded.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createActor, createMachine, type AnyEventObject } from 'xstate';
import { ReadCache, SPAN_BYTES } from '../../src/io/read-cache.js';
import { blockReaderActor, createStorageHandle, type StorageHandle } from '../../src/io/storage-actor.js';
import { Storage } from '../../src/io/storage.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import type { BlockReadEvent } from '../../src/protocol/peer-wire-types.js';
import { pieceHashes } from '../support/data.js';

const BLOCK = 16 * 1024;
/** 1 MiB pieces (4 spans each), 5.5 pieces: the last is short. */
const PIECE = 1024 * 1024;
const LENGTH = 5 * PIECE + PIECE / 2;

let dir: string;
let storage: Storage;
let data: Buffer;
let meta: Metainfo;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-reader-'));
  data = randomBytes(LENGTH);
  const count = Math.ceil(LENGTH / PIECE);
  const pieces = pieceHashes(data, PIECE);
  meta = parseMetainfo(
    encodeTorrent({
      name: 'f',
      files: [{ path: ['f'], length: LENGTH }],
      multiFile: false,
      pieceLength: PIECE,
      pieces,
    }),
  );
  storage = await Storage.open(meta, dir);
  for (let i = 0; i < count; i++) await storage.writePiece(i, data.subarray(i * PIECE, (i + 1) * PIECE));
});

afterEach(async () => {
  await storage.close();
  await rm(dir, { recursive: true, force: true });
});

/** A reader actor over `handle`, whose answers are collected. */
function reader(handle: StorageHandle) {
  const answers: BlockReadEvent[] = [];
  const parent = createMachine({
    invoke: { id: 'reader', src: blockReaderActor(handle) },
    on: { '*': { actions: ({ event }: { event: AnyEventObject }) => void answers.push(event as BlockReadEvent) } },
  });
  const actor = createActor(parent).start();
  const read = (blocks: { index: number; begin: number; length: number }[]) =>
    actor.getSnapshot().children.reader!.send({ type: 'upload.read', blocks });
  const next = async (n: number) => {
    for (let i = 0; i < 200 && answers.length < n; i++) await new Promise((r) => setTimeout(r, 5));
    return answers[n - 1]!;
  };
  return { answers, read, next, stop: () => actor.stop() };
}

const bytesOf = (index: number, begin: number, length: number) =>
  data.subarray(index * PIECE + begin, index * PIECE + begin + length);

describe('block reader: batches', () => {
  it('answers a batch with one event: the blocks read (right bytes, in order), the failures apart', async () => {
    const handle = createStorageHandle();
    handle.storage = storage;
    handle.have = Bitfield.full(meta.pieceCount);
    handle.have.clear(3);
    const r = reader(handle);
    const blocks = [
      { index: 0, begin: 0, length: BLOCK },
      { index: 0, begin: BLOCK, length: BLOCK },
      { index: 3, begin: 0, length: BLOCK }, // not verified
      { index: 5, begin: PIECE / 2 - 100, length: 100 }, // the last bytes of the short last piece
      { index: 2, begin: SPAN_BYTES - BLOCK / 2, length: BLOCK }, // crosses a span's end
      { index: 1, begin: 0, length: 200 * 1024 }, // longer than readBlock's cap: an error of its own
    ];
    r.read(blocks);
    const a = await r.next(1);
    expect(r.answers).toHaveLength(1);
    if (a.type !== 'upload.blocks') throw new Error(a.type);
    expect(a.blocks.map(({ index, begin, length }) => ({ index, begin, length }))).toEqual([
      blocks[0],
      blocks[1],
      blocks[3],
      blocks[4],
    ]);
    for (const b of a.blocks) expect(Buffer.from(b.data).equals(bytesOf(b.index, b.begin, b.length))).toBe(true);
    expect(a.failed.map(({ index, code }) => ({ index, code }))).toEqual([
      { index: 3, code: 'BT_ERR_NOT_VERIFIED' },
      { index: 1, code: 'BT_ERR_STORAGE_RANGE' },
    ]);
    r.stop();
  });

  it('reads adjacent blocks of a piece with one positional read, and the next batch of that span with none', async () => {
    const handle = createStorageHandle();
    handle.storage = storage;
    handle.have = Bitfield.full(meta.pieceCount);
    const r = reader(handle);
    const span = (first: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ index: 4, begin: (first + i) * BLOCK, length: BLOCK }));
    r.read(span(0, 8));
    await r.next(1);
    expect(handle.cache.reads).toBe(1);
    r.read(span(8, 8)); // the rest of the same 256 KiB span
    await r.next(2);
    expect(handle.cache.reads).toBe(1);
    r.read(span(16, 2)); // the next span
    const a = await r.next(3);
    expect(handle.cache.reads).toBe(2);
    if (a.type !== 'upload.blocks') throw new Error(a.type);
    for (const b of a.blocks) expect(Buffer.from(b.data).equals(bytesOf(4, b.begin, b.length))).toBe(true);
    r.stop();
  });

  it('a closed storage fails every block of the batch, synchronously answered once', async () => {
    const handle = createStorageHandle();
    handle.have = Bitfield.full(meta.pieceCount);
    const r = reader(handle);
    r.read([
      { index: 0, begin: 0, length: BLOCK },
      { index: 1, begin: 0, length: BLOCK },
    ]);
    const a = await r.next(1);
    expect(a).toMatchObject({ type: 'upload.blocks', blocks: [] });
    if (a.type !== 'upload.blocks') throw new Error(a.type);
    expect(a.failed.map((f) => f.code)).toEqual(['BT_ERR_STORAGE_CLOSED', 'BT_ERR_STORAGE_CLOSED']);
    r.stop();
  });
});

describe('ReadCache', () => {
  it('keeps at most its bound of spans, least recently used out, and forgets them all on clear', async () => {
    const cache = new ReadCache(3);
    const at = (index: number, span: number) => ({ index, begin: span * SPAN_BYTES, length: BLOCK });
    for (const [i, s] of [
      [0, 0],
      [0, 1],
      [1, 0],
    ] as const)
      await cache.read(storage, at(i, s));
    expect(cache.size).toBe(3);
    await cache.read(storage, at(0, 0)); // a hit: now the most recent
    expect(cache.reads).toBe(3);
    await cache.read(storage, at(2, 0)); // evicts (0, 1), the least recent
    expect(cache.size).toBe(3);
    await cache.read(storage, at(0, 0));
    expect(cache.reads).toBe(4);
    await cache.read(storage, at(0, 1));
    expect(cache.reads).toBe(5);
    const got = await cache.read(storage, { index: 1, begin: 100, length: 1000 });
    expect(Buffer.from(got).equals(bytesOf(1, 100, 1000))).toBe(true);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('a failed span read is not kept', async () => {
    const cache = new ReadCache();
    await storage.close();
    await expect(cache.read(storage, { index: 0, begin: 0, length: BLOCK })).rejects.toMatchObject({
      code: 'BT_ERR_STORAGE_CLOSED',
    });
    await new Promise((r) => setTimeout(r, 1));
    expect(cache.size).toBe(0);
    storage = await Storage.open(meta, dir);
  });
});
