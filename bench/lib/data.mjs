// Benchmark payloads and torrents: incompressible pseudo-random bytes (an AES-128-CTR keystream from a
// seed, so the same options give the same bytes), hashed with SHA-256 while written; torrents made by
// mktorrent (independent of the code under test); downloads verified file by file against the hashes.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Buffer } from 'node:buffer';
import bencode from 'bencode';
import { run } from './procs.mjs';

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;

/** Piece length for a payload of `bytes`: 256 KiB up to 64 MiB, 512 KiB up to 512 MiB, else 1 MiB. */
export function pieceLengthFor(bytes) {
  if (bytes <= 64 * MiB) return 256 * 1024;
  if (bytes <= 512 * MiB) return 512 * 1024;
  return MiB;
}

/** A small seeded PRNG (mulberry32) in [0, 1). */
export function prng(seed) {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` file sizes (each > 0, between ~0.2× and ~1.8× the mean) that add up to `total`. */
export function fileSizes(total, count, seed = 7) {
  const rnd = prng(seed);
  const w = Array.from({ length: count }, () => 0.2 + 1.6 * rnd());
  const sum = w.reduce((a, b) => a + b, 0);
  const sizes = w.map((x) => Math.max(1, Math.floor((total * x) / sum)));
  sizes[count - 1] += total - sizes.reduce((a, b) => a + b, 0);
  if (sizes[count - 1] < 1) throw new Error('file sizes do not add up');
  return sizes;
}

/**
 * Writes the payload under `root`: one file `root/<name>` (files = 1) or a folder `root/<name>/` of
 * `files` files in sub-folders of 100. Returns { name, root, bytes, files: [{ path (relative to
 * root, starting with name), length, sha256 }] }.
 */
export async function makePayload(root, name, bytes, files = 1, seed = name) {
  const key = createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  const sizes = files === 1 ? [bytes] : fileSizes(bytes, files);
  const width = String(files - 1).length;
  const out = [];
  for (let i = 0; i < sizes.length; i++) {
    const rel =
      files === 1
        ? name
        : join(name, `d${String(Math.floor(i / 100)).padStart(2, '0')}`, `f${String(i).padStart(width, '0')}.bin`);
    const path = join(root, rel);
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(path, 'w');
    const hash = createHash('sha256');
    try {
      for (let left = sizes[i]; left > 0;) {
        const n = Math.min(left, CHUNK);
        const buf = cipher.update(n === CHUNK ? zeros : zeros.subarray(0, n));
        hash.update(buf);
        await fh.write(buf, 0, buf.length);
        left -= n;
      }
    } finally {
      await fh.close();
    }
    out.push({ path: rel, length: sizes[i], sha256: hash.digest('hex') });
  }
  return { name, root, bytes, files: out };
}

/** mktorrent: a private torrent of `root/<name>` announcing `announce`, without a creation date. */
export async function makeTorrent(payload, announce, torrentPath, pieceLength = pieceLengthFor(payload.bytes)) {
  const exp = Math.log2(pieceLength);
  if (!Number.isInteger(exp)) throw new Error(`piece length ${pieceLength} is not a power of two`);
  const r = await run(
    'mktorrent',
    ['-p', '-d', '-l', String(exp), '-a', announce, '-o', torrentPath, join(payload.root, payload.name)],
    { timeoutMs: 600_000 },
  );
  if (r.code !== 0) throw new Error(`mktorrent failed (${r.code}): ${r.output}`);
  return { path: torrentPath, infoHash: await infoHashOf(torrentPath), pieceLength };
}

/** The v1 info hash (hex) of a .torrent file: SHA-1 of its bencoded info dictionary. */
export async function infoHashOf(torrentPath) {
  const meta = bencode.decode(await readFile(torrentPath));
  return createHash('sha1').update(bencode.encode(meta.info)).digest('hex');
}

async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK })) hash.update(chunk);
  return hash.digest('hex');
}

/** Compares the download in `outDir` with the payload: [] when every file has the right size and SHA-256. */
export async function verify(payload, outDir) {
  const bad = [];
  for (const f of payload.files) {
    const p = join(outDir, f.path);
    let st;
    try {
      st = await stat(p);
    } catch {
      bad.push(`${f.path}: missing`);
      continue;
    }
    if (st.size !== f.length) bad.push(`${f.path}: ${st.size} bytes, not ${f.length}`);
    else if ((await sha256File(p)) !== f.sha256) bad.push(`${f.path}: SHA-256 differs`);
    if (bad.length >= 10) break;
  }
  return bad;
}

/**
 * A single-file torrent of `file` written to `torrentPath` without any external tool (for the scale
 * bench's many small torrents): { path, infoHash }. `announce` may be undefined (trackerless).
 */
export async function makeSingleTorrent(file, torrentPath, { name, pieceLength, announce }) {
  const data = await readFile(file);
  const pieces = [];
  for (let off = 0; off < data.length; off += pieceLength) {
    pieces.push(
      createHash('sha1')
        .update(data.subarray(off, off + pieceLength))
        .digest(),
    );
  }
  const info = { length: data.length, name, 'piece length': pieceLength, pieces: Buffer.concat(pieces), private: 1 };
  const torrent = bencode.encode(announce ? { announce, info } : { info });
  await writeFile(torrentPath, torrent);
  return { path: torrentPath, infoHash: createHash('sha1').update(bencode.encode(info)).digest('hex') };
}
