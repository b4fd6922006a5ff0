/** Test data helpers: random payload files, and checking a download against its source byte for byte. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import type { Metainfo } from '../../src/protocol/metainfo.js';

/** Writes `size` random bytes to `path` (8 MiB at a time; parent folders created). */
export async function writeRandom(path: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, 'w');
  try {
    for (let done = 0; done < size;) {
      const n = Math.min(8 << 20, size - done);
      await fh.write(randomBytes(n));
      done += n;
    }
  } finally {
    await fh.close();
  }
}

/** SHA-1 of each `pieceLength` bytes of `data` (the last piece may be shorter), in order. */
export function pieceHashList(data: Uint8Array, pieceLength: number): Buffer[] {
  const hashes: Buffer[] = [];
  for (let at = 0; at < data.length; at += pieceLength)
    hashes.push(
      createHash('sha1')
        .update(data.subarray(at, at + pieceLength))
        .digest(),
    );
  return hashes;
}

/** The metainfo's `pieces`: {@link pieceHashList} concatenated. */
export const pieceHashes = (data: Uint8Array, pieceLength: number): Buffer =>
  Buffer.concat(pieceHashList(data, pieceLength));

export const sha256File = async (p: string) =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

/** Every non-padding file of `meta` under `out` equals the one under `src` (both hold `<name>`). */
export async function expectSameData(meta: Metainfo, src: string, out: string): Promise<void> {
  for (const f of meta.files.filter((x) => !x.padding)) {
    const rel = meta.multiFile ? join(meta.name, ...f.path) : meta.name;
    expect(await sha256File(join(out, rel)), rel).toBe(await sha256File(join(src, rel)));
  }
}
