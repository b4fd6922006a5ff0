import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileHandle } from 'node:fs/promises';
import { FilePool, type FileMode } from '../../src/io/file-pool.js';
import { filePieces, mapPieceRange } from '../../src/io/piece-map.js';
import { Storage, StorageError, type StorageOptions } from '../../src/io/storage.js';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { type Metainfo, parseMetainfo, pieceSize } from '../../src/protocol/metainfo.js';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';

interface Entry {
  path: string[];
  length: number;
  /** BEP 47 attributes ('p' padding, 'l' symlink). */
  attr?: string;
  symlink?: string[];
}

interface Built {
  meta: Metainfo;
  /** The torrent's concatenated bytes, padding included. */
  data: Buffer;
  /** Each entry's bytes. */
  contents: Buffer[];
}

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest();

/** Random data for `entries` and a parsed Metainfo with the right piece hashes. */
function build(name: string, entries: Entry[], pieceLength: number, multiFile = true): Built {
  const contents = entries.map((e) => (e.attr ? Buffer.alloc(e.length) : randomBytes(e.length)));
  const data = Buffer.concat(contents);
  const count = Math.ceil(data.length / pieceLength);
  const pieces = Buffer.concat(
    Array.from({ length: count }, (_, i) => sha1(data.subarray(i * pieceLength, (i + 1) * pieceLength))),
  );
  const bytes = entries.some((e) => e.attr)
    ? // encodeTorrent writes no BEP 47 attributes: spell the info dictionary out.
      encodeBencode({
        info: {
          name,
          'piece length': pieceLength,
          pieces,
          files: entries.map((e) => ({
            length: e.length,
            path: e.path,
            ...(e.attr ? { attr: e.attr } : {}),
            ...(e.symlink ? { 'symlink path': e.symlink } : {}),
          })),
        },
      })
    : encodeTorrent({ name, files: entries, multiFile, pieceLength, pieces });
  return { meta: parseMetainfo(bytes), data, contents };
}

function pieceData(b: Built, index: number): Buffer {
  return b.data.subarray(index * b.meta.pieceLength, index * b.meta.pieceLength + pieceSize(b.meta, index));
}

function shuffled(n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function writeAll(storage: Storage, b: Built): Promise<void> {
  await Promise.all(shuffled(b.meta.pieceCount).map((i) => storage.writePiece(i, pieceData(b, i))));
}

/** Expected bitfield: every piece except those in `missing`. */
function allBut(count: number, missing: Iterable<number>): number[] {
  const m = new Set(missing);
  return Array.from({ length: count }, (_, i) => i).filter((i) => !m.has(i));
}

const bits = (b: Bitfield) => [...b.setBits()];

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<StorageError> {
  try {
    if (typeof p === 'function') await p();
    else await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe(code);
    return err as StorageError;
  }
  throw new Error(`expected a StorageError ${code}`);
}

// A layout with everything at once: zero-length files (first, middle, last), nested folders, non-ASCII
// names, a piece spanning four files, a BEP 47 padding file and a symlink entry.
const MULTI: Entry[] = [
  { path: ['a.bin'], length: 1500 },
  { path: ['empty-1'], length: 0 },
  { path: ['sub', 'deeper', 'ü-ñ 文件.txt'], length: 300 },
  { path: ['sub', 'x'], length: 200 },
  { path: ['sub', 'empty-2'], length: 0 },
  { path: ['.pad', '48'], length: 48, attr: 'p' },
  { path: ['link-to-a'], length: 0, attr: 'l', symlink: ['a.bin'] },
  { path: ['b', 'c.dat'], length: 3000 },
  { path: ['z-empty'], length: 0 },
];
const PIECE = 1024;

let dir: string;
let outside: string;
const opened: Storage[] = [];

async function openStorage(meta: Metainfo, options?: StorageOptions): Promise<Storage> {
  const s = await Storage.open(meta, dir, options);
  opened.push(s);
  return s;
}

beforeEach(async () => {
  const base = await mkdtemp(join(tmpdir(), 'bt-actor-storage-'));
  dir = join(base, 'downloads');
  outside = join(base, 'elsewhere');
  await mkdir(dir);
  await mkdir(outside);
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(join(dir, '..'), { recursive: true, force: true });
});

describe('Storage: multi-file round trip', () => {
  it('the layout has a piece spanning 3+ files and a padding file', () => {
    const { meta } = build('multi', MULTI, PIECE);
    const spans = Array.from({ length: meta.pieceCount }, (_, i) => mapPieceRange(meta, i).length);
    expect(Math.max(...spans)).toBeGreaterThanOrEqual(3);
    expect(meta.files.some((f) => f.padding)).toBe(true);
    expect(meta.files[7]!.offset % PIECE).toBe(0); // the padding aligns b/c.dat
  });

  it('creates zero-length files on open, writes pieces in random order concurrently, reads the same bytes back', async () => {
    const b = build('multi ü', MULTI, PIECE);
    const storage = await openStorage(b.meta);
    const root = join(dir, 'multi ü');
    // Zero-length files exist before any write; nothing else yet.
    expect(await readFile(join(root, 'empty-1'))).toHaveLength(0);
    expect(await readFile(join(root, 'sub', 'empty-2'))).toHaveLength(0);
    expect(await readFile(join(root, 'z-empty'))).toHaveLength(0);
    expect(existsSync(join(root, 'a.bin'))).toBe(false);

    await writeAll(storage, b);
    await storage.flush();
    for (const [i, e] of MULTI.entries()) {
      const p = join(root, ...e.path);
      if (e.attr) {
        expect(existsSync(p), `${e.path.join('/')} must not be on disk`).toBe(false);
        continue;
      }
      expect((await readFile(p)).equals(b.contents[i]!), e.path.join('/')).toBe(true);
      expect(storage.filePath(i)).toBe(p);
    }
    expect(existsSync(join(root, '.pad'))).toBe(false);
    expect(storage.filePath(5)).toBeUndefined();
    expect(storage.filePath(6)).toBeUndefined();
    expect((await readdir(dir)).sort()).toEqual(['multi ü']);

    const have = await storage.check();
    expect(have.isComplete).toBe(true);
    for (let i = 0; i < b.meta.pieceCount; i++) expect(storage.verifyPiece(i, pieceData(b, i))).toBe(true);
  });

  it('readBlock returns the right bytes, padding as zeros, across file boundaries', async () => {
    const b = build('multi', MULTI, PIECE);
    const storage = await openStorage(b.meta);
    await writeAll(storage, b);
    for (let i = 0; i < b.meta.pieceCount; i++) {
      const size = pieceSize(b.meta, i);
      for (const [begin, length] of [
        [0, size],
        [0, 1],
        [size - 1, 1],
        [100, Math.min(900, size - 100)],
        [Math.floor(size / 3), Math.floor(size / 2)],
      ] as const) {
        const got = await storage.readBlock(i, begin, length);
        expect(got.equals(pieceData(b, i).subarray(begin, begin + length)), `piece ${i} ${begin}+${length}`).toBe(true);
      }
    }
    // The padding region (bytes 2000..2048: piece 1, 976..1024) reads as zeros.
    expect((await storage.readBlock(1, 976, 48)).equals(Buffer.alloc(48))).toBe(true);
  });

  it('check() misses exactly the pieces covering a corrupt byte, a deleted file or a short file', async () => {
    const b = build('multi', MULTI, PIECE);
    const storage = await openStorage(b.meta);
    await writeAll(storage, b);
    const root = join(dir, 'multi');
    const count = b.meta.pieceCount;

    // One byte of sub/x (torrent byte 1810, piece 1).
    const x = join(root, 'sub', 'x');
    const xBytes = await readFile(x);
    xBytes[10] ^= 0xff;
    await writeFile(x, xBytes);
    expect(bits(await storage.check())).toEqual(allBut(count, [1]));

    // A byte of a.bin in piece 0 too, read back through a fresh handle (the pool closes on flush).
    await storage.flush();
    const a = join(root, 'a.bin');
    const aBytes = await readFile(a);
    aBytes[5] ^= 1;
    await writeFile(a, aBytes);
    expect(bits(await storage.check())).toEqual(allBut(count, [0, 1]));

    // Delete b/c.dat: its pieces are missing, not an error.
    await storage.flush();
    await unlink(join(root, 'b', 'c.dat'));
    const { first, end } = filePieces(b.meta, 7);
    const cPieces = Array.from({ length: end - first }, (_, k) => first + k);
    expect(cPieces).toEqual([2, 3, 4]);
    expect(bits(await storage.check())).toEqual(allBut(count, [0, 1, ...cPieces]));

    // Rewrite the damaged pieces; then shorten c.dat: pieces past its end are missing.
    await storage.writePiece(0, pieceData(b, 0));
    await storage.writePiece(1, pieceData(b, 1));
    for (const i of cPieces) await storage.writePiece(i, pieceData(b, i));
    expect((await storage.check()).isComplete).toBe(true);
    await storage.flush();
    await truncate(join(root, 'b', 'c.dat'), 1500); // keeps torrent bytes 2048..3548: piece 2 only
    expect(bits(await storage.check())).toEqual(allBut(count, [3, 4]));
  });

  it('readBlock of vanished data is BT_ERR_STORAGE_IO', async () => {
    const b = build('multi', MULTI, PIECE);
    const storage = await openStorage(b.meta);
    await writeAll(storage, b);
    await storage.flush();
    await unlink(join(dir, 'multi', 'b', 'c.dat'));
    const missing = await expectCode(storage.readBlock(3, 0, 16), 'BT_ERR_STORAGE_IO');
    expect(missing.message).toMatch(/missing/);
    await truncate(join(dir, 'multi', 'a.bin'), 100);
    const short = await expectCode(storage.readBlock(0, 0, 200), 'BT_ERR_STORAGE_IO');
    expect(short.message).toMatch(/shorter/);
  });

  it('refuses out-of-range requests with BT_ERR_STORAGE_RANGE', async () => {
    const b = build('multi', MULTI, PIECE);
    const storage = await openStorage(b.meta, { maxBlockLength: 512 });
    await writeAll(storage, b);
    const last = b.meta.pieceCount - 1;
    const lastSize = pieceSize(b.meta, last);
    await expectCode(storage.readBlock(-1, 0, 16), 'BT_ERR_STORAGE_RANGE');
    await expectCode(storage.readBlock(last + 1, 0, 16), 'BT_ERR_STORAGE_RANGE');
    await expectCode(storage.readBlock(0.5, 0, 16), 'BT_ERR_STORAGE_RANGE');
    await expectCode(storage.readBlock(0, -1, 16), 'BT_ERR_STORAGE_RANGE');
    await expectCode(storage.readBlock(0, 0, 0), 'BT_ERR_STORAGE_RANGE');
    await expectCode(storage.readBlock(0, PIECE - 10, 11), 'BT_ERR_STORAGE_RANGE');
    await expectCode(storage.readBlock(last, lastSize - 10, 11), 'BT_ERR_STORAGE_RANGE');
    await expectCode(storage.readBlock(0, 0, 513), 'BT_ERR_STORAGE_RANGE'); // over the block cap
    expect(await storage.readBlock(0, 0, 512)).toHaveLength(512);
    await expectCode(storage.writePiece(0, pieceData(b, 0).subarray(1)), 'BT_ERR_STORAGE_RANGE');
    await expectCode(storage.writePiece(last + 1, Buffer.alloc(PIECE)), 'BT_ERR_STORAGE_RANGE');
    await expectCode(() => storage.verifyPiece(last + 1, Buffer.alloc(PIECE)), 'BT_ERR_STORAGE_RANGE');
    await expectCode(storage.check({ only: new Bitfield(last) }), 'BT_ERR_STORAGE_RANGE');
  });

  it('verifyPiece is false for altered or wrongly sized data', async () => {
    const b = build('multi', MULTI, PIECE);
    const storage = await openStorage(b.meta);
    const piece = Buffer.from(pieceData(b, 2));
    expect(storage.verifyPiece(2, piece)).toBe(true);
    piece[piece.length - 1] ^= 0x80;
    expect(storage.verifyPiece(2, piece)).toBe(false);
    expect(storage.verifyPiece(2, piece.subarray(1))).toBe(false);
    expect(storage.verifyPiece(3, pieceData(b, 2))).toBe(false);
  });

  it('check() reports progress, honours only, and aborts', async () => {
    const b = build('multi', MULTI, PIECE);
    const storage = await openStorage(b.meta);
    await writeAll(storage, b);
    const progress: number[] = [];
    const have = await storage.check({ onProgress: (p) => progress.push(p.checked * 100 + p.valid) });
    expect(have.isComplete).toBe(true);
    expect(progress).toEqual([101, 202, 303, 404, 505]);

    const only = new Bitfield(b.meta.pieceCount);
    only.set(1);
    only.set(4);
    expect(bits(await storage.check({ only }))).toEqual([1, 4]);
    expect(bits(await storage.check({ only: new Bitfield(b.meta.pieceCount) }))).toEqual([]);

    const ac = new AbortController();
    const seen: number[] = [];
    const aborted = storage.check({
      signal: ac.signal,
      onProgress: (p) => (seen.push(p.checked), p.checked === 2 && ac.abort()),
    });
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toEqual([1, 2]);
    await expect(storage.check({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('check() of an empty folder finds nothing; fileStats reports what is on disk', async () => {
    const b = build('multi', MULTI, PIECE);
    const storage = await openStorage(b.meta);
    expect((await storage.check()).isEmpty).toBe(true);
    let stats = await storage.fileStats();
    expect(stats.map((s) => [s.fileIndex, s.path, s.exists, s.size])).toEqual([
      [0, 'a.bin', false, 0],
      [1, 'empty-1', true, 0],
      [2, 'sub/deeper/ü-ñ 文件.txt', false, 0],
      [3, 'sub/x', false, 0],
      [4, 'sub/empty-2', true, 0],
      [7, 'b/c.dat', false, 0],
      [8, 'z-empty', true, 0],
    ]);
    await writeAll(storage, b);
    stats = await storage.fileStats();
    expect(stats.every((s) => s.exists && s.size === b.meta.files[s.fileIndex]!.length && s.mtimeMs > 0)).toBe(true);
  });

  it('keeps existing data on open (no truncation) and resumes from it', async () => {
    const b = build('multi', MULTI, PIECE);
    const first = await openStorage(b.meta);
    await writeAll(first, b);
    await first.close();
    const second = await openStorage(b.meta);
    expect((await second.check()).isComplete).toBe(true);
  });

  it('read-only storage creates nothing and refuses writes', async () => {
    const b = build('multi', MULTI, PIECE);
    const storage = await openStorage(b.meta, { readOnly: true });
    expect(await readdir(dir)).toEqual([]);
    expect((await storage.check()).isEmpty).toBe(true);
    await expectCode(storage.writePiece(0, pieceData(b, 0)), 'BT_ERR_STORAGE_READ_ONLY');
    await expectCode(storage.readBlock(0, 0, 16), 'BT_ERR_STORAGE_IO');
    // A missing download folder is fine for a read-only check.
    const nowhere = await Storage.open(b.meta, join(dir, 'missing'), { readOnly: true });
    expect((await nowhere.check()).isEmpty).toBe(true);
    await nowhere.close();
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('close waits for writes in flight, is idempotent, and refuses later use', async () => {
    const b = build('multi', MULTI, PIECE);
    const storage = await openStorage(b.meta);
    const writes = Array.from({ length: b.meta.pieceCount }, (_, i) => storage.writePiece(i, pieceData(b, i)));
    const closed = storage.close();
    await Promise.all(writes);
    await closed;
    await storage.close();
    expect(storage.openFiles).toBe(0);
    await expectCode(storage.writePiece(0, pieceData(b, 0)), 'BT_ERR_STORAGE_CLOSED');
    await expectCode(storage.readBlock(0, 0, 1), 'BT_ERR_STORAGE_CLOSED');
    await expectCode(storage.check(), 'BT_ERR_STORAGE_CLOSED');
    const again = await openStorage(b.meta);
    expect((await again.check()).isComplete).toBe(true); // every write had landed
  });
});

describe('Storage: single-file', () => {
  it('writes DIR/<name>, checks, reads blocks, detects corruption', async () => {
    const entries = [{ path: ['ignored'], length: 10_000 }];
    const b = build('single ü.bin', entries, 4096, false);
    expect(b.meta.pieceCount).toBe(3);
    const storage = await openStorage(b.meta);
    await writeAll(storage, b);
    await storage.flush();
    const file = join(dir, 'single ü.bin');
    expect((await readFile(file)).equals(b.data)).toBe(true);
    expect(await readdir(dir)).toEqual(['single ü.bin']);
    expect((await storage.check()).isComplete).toBe(true);
    expect((await storage.readBlock(2, 100, 1000)).equals(b.data.subarray(8192 + 100, 8192 + 1100))).toBe(true);

    const bytes = await readFile(file);
    bytes[4096] ^= 1; // first byte of piece 1
    await writeFile(file, bytes);
    expect(bits(await storage.check())).toEqual([0, 2]);
    await storage.flush();
    await unlink(file);
    expect(bits(await storage.check())).toEqual([]);
  });
});

describe('Storage: paths never leave the download folder', () => {
  it('refuses DIR/<name> as a symlink to a folder outside, on open and on write', async () => {
    const b = build('multi', MULTI, PIECE);
    await symlink(outside, join(dir, 'multi'));
    const err = await expectCode(Storage.open(b.meta, dir), 'BT_ERR_STORAGE_PATH');
    expect(err.message).toMatch(/outside the download folder/);
    expect(await readdir(outside)).toEqual([]);

    // A symlink planted after open is caught when a file is opened for writing.
    await unlink(join(dir, 'multi'));
    const storage = await openStorage(b.meta);
    await storage.flush();
    await rm(join(dir, 'multi', 'sub'), { recursive: true });
    await symlink(outside, join(dir, 'multi', 'sub'));
    await expectCode(storage.writePiece(1, pieceData(b, 1)), 'BT_ERR_STORAGE_PATH');
    await expectCode(storage.check(), 'BT_ERR_STORAGE_PATH');
    expect(await readdir(outside)).toEqual([]);
  });

  it('a folder swapped for a symlink after its files were written is refused when they are reopened', async () => {
    const b = build('multi', MULTI, PIECE);
    // One open file at a time: every segment of a piece reopens its file.
    const storage = await openStorage(b.meta, { maxOpenFiles: 1 });
    await storage.writePiece(1, pieceData(b, 1)); // a.bin, sub/deeper/ü-ñ 文件.txt, sub/x
    await storage.flush();
    // The same names outside (so the opens succeed), then `sub` becomes a symlink to them.
    await mkdir(join(outside, 'deeper'), { recursive: true });
    await writeFile(join(outside, 'deeper', 'ü-ñ 文件.txt'), 'outside');
    await writeFile(join(outside, 'x'), 'outside');
    await rm(join(dir, 'multi', 'sub'), { recursive: true });
    await symlink(outside, join(dir, 'multi', 'sub'));
    const err = await expectCode(storage.writePiece(1, pieceData(b, 1)), 'BT_ERR_STORAGE_PATH');
    expect(err.message).toMatch(/outside the download folder/);
    expect(await readFile(join(outside, 'x'), 'utf8')).toBe('outside');
    expect(await readFile(join(outside, 'deeper', 'ü-ñ 文件.txt'), 'utf8')).toBe('outside');
  });

  it('a folder confirmed before (its empty file created) and swapped for a symlink is refused for a new file', async () => {
    const b = build('multi', MULTI, PIECE);
    const storage = await openStorage(b.meta); // creates sub/empty-2: `sub` confirmed inside
    await mkdir(join(outside, 'deeper'), { recursive: true });
    await rm(join(dir, 'multi', 'sub'), { recursive: true });
    await symlink(outside, join(dir, 'multi', 'sub'));
    // Piece 1 creates sub/x and sub/deeper/…: `sub` is no longer the folder confirmed, the path is walked.
    const err = await expectCode(storage.writePiece(1, pieceData(b, 1)), 'BT_ERR_STORAGE_PATH');
    expect(err.message).toMatch(/outside the download folder/);
    expect(await readdir(outside)).toEqual(['deeper']);
    expect(await readdir(join(outside, 'deeper'))).toEqual([]);
  });

  it('refuses a single-file torrent whose file is a symlink to a file outside', async () => {
    const b = build('single.bin', [{ path: ['x'], length: 5000 }], 4096, false);
    const target = join(outside, 'precious');
    await writeFile(target, 'keep me');
    await symlink(target, join(dir, 'single.bin'));
    await expectCode(Storage.open(b.meta, dir), 'BT_ERR_STORAGE_PATH');
    expect(await readFile(target, 'utf8')).toBe('keep me');
  });

  it('refuses a dangling symlink (a write would create its target outside)', async () => {
    const b = build('multi', MULTI, PIECE);
    await mkdir(join(dir, 'multi'));
    await symlink(join(outside, 'created'), join(dir, 'multi', 'a.bin'));
    const err = await expectCode(Storage.open(b.meta, dir), 'BT_ERR_STORAGE_PATH');
    expect(err.message).toMatch(/leads nowhere/);
    expect(await readdir(outside)).toEqual([]);
  });

  it('follows a symlink that stays inside the folder', async () => {
    const b = build('multi', MULTI, PIECE);
    await mkdir(join(dir, 'real-b'));
    await mkdir(join(dir, 'multi'));
    await symlink(join(dir, 'real-b'), join(dir, 'multi', 'b'));
    const storage = await openStorage(b.meta);
    await writeAll(storage, b);
    await storage.flush();
    expect((await readFile(join(dir, 'real-b', 'c.dat'))).equals(b.contents[7]!)).toBe(true);
    expect((await storage.check()).isComplete).toBe(true);
  });

  it('refuses a hand-built metainfo with "..", "/" or an absolute element, bypassing the parser', async () => {
    const b = build('multi', MULTI, PIECE);
    const withPath = (path: string[]): Metainfo => ({
      ...b.meta,
      files: b.meta.files.map((f, i) => (i === 0 ? { ...f, path, pathString: path.join('/') } : f)),
    });
    for (const path of [
      ['..', 'evil'],
      ['sub', '..', '..', 'evil'],
      ['a/../../evil'],
      ['/etc/passwd'],
      ['.'],
      ['nul\0'],
      [],
    ]) {
      await expectCode(Storage.open(withPath(path), dir), 'BT_ERR_STORAGE_PATH');
    }
    await expectCode(Storage.open({ ...b.meta, name: '..' }, dir), 'BT_ERR_STORAGE_PATH');
    const single = build('s', [{ path: ['s'], length: 10 }], 16, false);
    await expectCode(Storage.open({ ...single.meta, name: '../escape' }, dir), 'BT_ERR_STORAGE_PATH');
    // Two files on one path, and a file that is also a folder.
    await expectCode(Storage.open(withPath(['b', 'c.dat']), dir), 'BT_ERR_STORAGE_PATH');
    await expectCode(Storage.open(withPath(['sub']), dir), 'BT_ERR_STORAGE_PATH');
    expect(await readdir(dir)).toEqual([]);
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses an inconsistent hand-built layout with BT_ERR_STORAGE_LAYOUT', async () => {
    const b = build('multi', MULTI, PIECE);
    await expectCode(Storage.open({ ...b.meta, length: b.meta.length + 1 }, dir), 'BT_ERR_STORAGE_LAYOUT');
    await expectCode(
      Storage.open(
        { ...b.meta, files: b.meta.files.map((f, i) => (i === 3 ? { ...f, offset: f.offset + 1 } : f)) },
        dir,
      ),
      'BT_ERR_STORAGE_LAYOUT',
    );
    await expectCode(Storage.open({ ...b.meta, pieceCount: b.meta.pieceCount + 1 }, dir), 'BT_ERR_STORAGE_LAYOUT');
  });
});

describe('Storage: file pool', () => {
  it('writes and reads a torrent of 300 small files with at most 8 handles open', async () => {
    const entries: Entry[] = Array.from({ length: 300 }, (_, i) => ({
      path: [`d${i % 7}`, `f-${String(i).padStart(3, '0')}.bin`],
      length: i % 13 === 0 ? 0 : 1 + ((i * 37) % 180),
    }));
    const b = build('many', entries, 512);
    const storage = await openStorage(b.meta, { maxOpenFiles: 8 });
    await writeAll(storage, b);
    expect(storage.maxOpenFilesSeen).toBeLessThanOrEqual(8);
    expect(storage.maxOpenFilesSeen).toBeGreaterThan(1);

    // Read every piece back concurrently, in blocks.
    const reads = shuffled(b.meta.pieceCount).map(async (i) => {
      const size = pieceSize(b.meta, i);
      const parts = await Promise.all([
        storage.readBlock(i, 0, Math.ceil(size / 2)),
        storage.readBlock(i, Math.ceil(size / 2), Math.floor(size / 2)),
      ]);
      expect(Buffer.concat(parts).equals(pieceData(b, i))).toBe(true);
    });
    await Promise.all(reads);
    expect((await storage.check()).isComplete).toBe(true);
    expect(storage.maxOpenFilesSeen).toBeLessThanOrEqual(8);
    await storage.close();
    expect(storage.openFiles).toBe(0);
    for (const [i, e] of entries.entries()) {
      expect((await readFile(join(dir, 'many', ...e.path))).equals(b.contents[i]!)).toBe(true);
    }
  });
});

describe('FilePool', () => {
  /** A fake opener: handles are plain objects that record whether they were closed. */
  function fakes(failOn?: string) {
    const log: string[] = [];
    const handles: { path: string; mode: FileMode; closed: boolean }[] = [];
    const opener = async (path: string, mode: FileMode): Promise<FileHandle> => {
      await new Promise((r) => setTimeout(r, 1));
      if (path === failOn) throw new Error(`cannot open ${path}`);
      const h = { path, mode, closed: false };
      handles.push(h);
      log.push(`open ${path} ${mode}`);
      return {
        close: async () => {
          h.closed = true;
          log.push(`close ${path} ${mode}`);
        },
        h,
      } as unknown as FileHandle;
    };
    return { log, handles, opener };
  }
  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };
  const state = (fh: FileHandle) => (fh as unknown as { h: { closed: boolean } }).h;

  it('never closes a handle in use; a request over the cap waits for a release and evicts the LRU idle handle', async () => {
    const { log, opener } = fakes();
    const pool = new FilePool(opener, { maxOpen: 2 });
    const holdA = deferred();
    const holdB = deferred();
    const a = pool.use('a', 'read', async (fh) => {
      await holdA.promise;
      expect(state(fh).closed).toBe(false);
    });
    const b = pool.use('b', 'read', async (fh) => {
      await holdB.promise;
      expect(state(fh).closed).toBe(false);
    });
    let cDone = false;
    const c = pool.use('c', 'read', async () => {
      cDone = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(cDone).toBe(false); // both slots busy
    expect(pool.openCount).toBe(2);
    holdB.resolve();
    await b;
    await c; // b was idle: evicted, c opened
    expect(log).toEqual(['open a read', 'open b read', 'close b read', 'open c read']);
    holdA.resolve();
    await a;
    // a is reused (a hit moves it to the front), so c is the LRU idle handle now.
    await pool.use('a', 'read', async () => undefined);
    await pool.use('d', 'read', async () => undefined);
    expect(log.slice(4)).toEqual(['close c read', 'open d read']);
    expect(pool.maxOpenSeen).toBe(2);
    await pool.close();
    expect(pool.openCount).toBe(0);
  });

  it('reopens a read handle for writing and closes the old one once its reader is done', async () => {
    const { log, opener } = fakes();
    const pool = new FilePool(opener, { maxOpen: 4 });
    const hold = deferred();
    const reading = pool.use('f', 'read', () => hold.promise);
    await new Promise((r) => setTimeout(r, 5));
    await pool.use('f', 'write', async () => undefined);
    expect(log).toEqual(['open f read', 'open f write']);
    hold.resolve();
    await reading;
    await new Promise((r) => setTimeout(r, 5));
    expect(log).toEqual(['open f read', 'open f write', 'close f read']);
    await pool.use('f', 'read', async () => undefined); // a write handle serves reads
    expect(log).toHaveLength(3);
    await pool.close();
  });

  it('a failed open frees its slot and reaches the caller; close waits for users and refuses new ones', async () => {
    const { opener } = fakes('bad');
    const pool = new FilePool(opener, { maxOpen: 1 });
    await expect(pool.use('bad', 'read', async () => undefined)).rejects.toThrow('cannot open bad');
    expect(pool.openCount).toBe(0);
    const hold = deferred();
    let handle: FileHandle | undefined;
    const using = pool.use('ok', 'write', async (fh) => {
      handle = fh;
      await hold.promise;
    });
    await new Promise((r) => setTimeout(r, 5));
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(closed).toBe(false);
    expect(state(handle!).closed).toBe(false);
    await expectCode(
      pool.use('other', 'read', async () => undefined),
      'BT_ERR_STORAGE_CLOSED',
    );
    hold.resolve();
    await using;
    await closing;
    expect(state(handle!).closed).toBe(true);
    expect(pool.openCount).toBe(0);
    await pool.close(); // idempotent
  });
});
