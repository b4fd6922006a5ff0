// Unselected files (issue 17): never created; the bytes of pieces they share with selected files are kept
// in the part file (`<resume dir>/<info hash>.parts`), served and checked from there, and moved into the
// file when it is selected later.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { partsPath } from '../../src/io/resume.js';
import { Storage } from '../../src/io/storage.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-parts-'));
});
afterEach(() => rm(work, { recursive: true, force: true }));

const PIECE = 64 * 1024;
/** a 100,000 B, b 150,000 B, c 90,000 B and an empty file e; 64 KiB pieces straddle a|b and b|c. */
async function dataset(): Promise<{ meta: Metainfo; all: Buffer; files: Record<string, Buffer> }> {
  const src = join(work, 'src', 'set');
  await mkdir(src, { recursive: true });
  const files = { a: randomBytes(100_000), b: randomBytes(150_000), c: randomBytes(90_000), e: Buffer.alloc(0) };
  for (const [name, data] of Object.entries(files)) await writeFile(join(src, name), data);
  const { torrent } = await createTorrent(src, { pieceLength: PIECE });
  const meta = parseMetainfo(torrent);
  const all = Buffer.concat(meta.files.map((f) => files[f.path.at(-1) as keyof typeof files]));
  return { meta, all, files };
}
const piece = (meta: Metainfo, all: Buffer, i: number) =>
  all.subarray(i * PIECE, Math.min(meta.length, (i + 1) * PIECE));
const indexOf = (meta: Metainfo, name: string) => meta.files.findIndex((f) => f.path.at(-1) === name);

describe('Storage: unselected files and the part file', () => {
  it('creates no unselected file; shared pieces keep their bytes in the part file, served and checked from it', async () => {
    const { meta, all, files } = await dataset();
    const dir = join(work, 'out');
    const part = partsPath(dir, meta.infoHashHex);
    const skipped = ['a', 'c', 'e'].map((n) => indexOf(meta, n));
    const s = await Storage.open(meta, dir, { skippedFiles: skipped, partPath: part });
    // b is bytes 100,000–249,999: pieces 1, 2, 3 (1 shares with a, 3 with c).
    for (const i of [1, 2, 3]) await s.writePiece(i, piece(meta, all, i));
    expect((await readdir(join(dir, 'set'))).sort()).toEqual(['b']);
    expect(Buffer.from(await readFile(join(dir, 'set', 'b'))).equals(files.b)).toBe(true);
    expect(existsSync(part)).toBe(true);
    expect(s.partFiles).toEqual([...skipped].sort((x, y) => x - y));
    // A block of a shared piece, across a's bytes (from the part file) and b's.
    const block = await s.readBlock(1, 0, 64 * 1024);
    expect(block.equals(piece(meta, all, 1))).toBe(true);
    await s.close();

    // A new storage (a restart) checks the shared pieces from the part file.
    const again = await Storage.open(meta, dir, { skippedFiles: skipped, partPath: part });
    const have = await again.check();
    expect([...have.setBits()]).toEqual([1, 2, 3]);
    await again.close();
  });

  it('a file selected later gets the bytes the part file holds for it; the rest of it comes by download', async () => {
    const { meta, all, files } = await dataset();
    const dir = join(work, 'out');
    const part = partsPath(dir, meta.infoHashHex);
    const a = indexOf(meta, 'a');
    const c = indexOf(meta, 'c');
    const s = await Storage.open(meta, dir, { skippedFiles: [a, c], partPath: part });
    const have = new Bitfield(meta.pieceCount);
    for (const i of [1, 2, 3]) {
      await s.writePiece(i, piece(meta, all, i));
      have.set(i);
    }
    // a selected: piece 1's bytes of a move from the part file into a (bytes 65,536–99,999 of it).
    await s.setSkippedFiles([c], have);
    expect(s.partFiles).toEqual([c]);
    const onDisk = await readFile(join(dir, 'set', 'a'));
    expect(onDisk.length).toBe(100_000);
    expect(Buffer.from(onDisk.subarray(PIECE)).equals(files.a.subarray(PIECE))).toBe(true);
    // Piece 0 (all of it a's) downloads now into the file; a is whole.
    await s.writePiece(0, piece(meta, all, 0));
    expect(Buffer.from(await readFile(join(dir, 'set', 'a'))).equals(files.a)).toBe(true);
    expect(existsSync(join(dir, 'set', 'c'))).toBe(false);
    // Every piece checks: a and b from their files, piece 3's bytes of c still from the part file.
    expect([...(await s.check()).setBits()]).toEqual([0, 1, 2, 3]);
    await s.close();
  });

  it('a file unselected while on disk stays in use (nothing is moved into the part file)', async () => {
    const { meta, all } = await dataset();
    const dir = join(work, 'out');
    const s = await Storage.open(meta, dir, { partPath: partsPath(dir, meta.infoHashHex) });
    for (let i = 0; i < meta.pieceCount; i++) await s.writePiece(i, piece(meta, all, i));
    const have = await s.check();
    await s.setSkippedFiles([indexOf(meta, 'a')], have);
    expect(s.partFiles).toEqual([]);
    expect((await s.readBlock(0, 0, 16384)).equals(all.subarray(0, 16384))).toBe(true);
    expect(existsSync(partsPath(dir, meta.infoHashHex))).toBe(false);
    await s.close();
  });
});
