/**
 * Piece verification by kind (src/protocol/piece-verify.ts): v1 by SHA-1, v2-only by the SHA-256 merkle
 * hash of the piece (its piece-layer entry, or the root of a file of one piece), hybrids by both; files
 * without piece layers; sizes and indexes out of range.
 */
import { describe, expect, it } from 'vitest';
import { type Metainfo, parseMetainfo } from '../../src/protocol/metainfo.js';
import { createHash } from 'node:crypto';
import { blockHashes, pieceLayer } from '../../src/protocol/merkle.js';
import {
  blockHashesOf,
  filesMissingPieceLayers,
  pieceVerifier,
  missingLayersNote,
  verifyScheme,
} from '../../src/protocol/piece-verify.js';
import { pattern, pieceSpace, v2Torrent } from '../support/v2-torrent.js';

// 40,000 bytes: 3 pieces of 16 KiB; 5 bytes: 1 piece; 70,000 bytes: 5 pieces. Pads after each.
const FILES = [
  { path: ['a.bin'], data: pattern(40_000, 1) },
  { path: ['d', 'b.txt'], data: pattern(5, 2) },
  { path: ['d', 'c.bin'], data: pattern(70_000, 3) },
];

function parsed(version: 'v2' | 'hybrid', options: { pieceLength?: number } = {}): Metainfo {
  return parseMetainfo(v2Torrent(FILES, { version, ...options }), { pathRules: 'posix' });
}

const pieces = (meta: Metainfo, space: Uint8Array) =>
  Array.from({ length: meta.pieceCount }, (_, i) =>
    space.subarray(i * meta.pieceLength, Math.min(meta.length, (i + 1) * meta.pieceLength)),
  );

/** A copy of `bytes` with byte `at` flipped. */
const flipped = (bytes: Uint8Array, at: number) => {
  const copy = Uint8Array.from(bytes);
  copy[at] = copy[at]! ^ 0x01;
  return copy;
};

/** Which of `meta`'s pieces the verifier accepts when each holds `space`'s bytes. */
const accepted = (meta: Metainfo, space: Uint8Array) => {
  const verify = pieceVerifier(meta);
  return pieces(meta, space).map((p, i) => verify(i, p));
};

describe('pieceVerifier', () => {
  it('v2-only: every piece of a multi-file torrent verifies against its piece layer or root', () => {
    const meta = parsed('v2');
    expect(verifyScheme(meta)).toBe('merkle');
    expect(meta.pieces).toHaveLength(0);
    expect(meta.pieceCount).toBe(3 + 1 + 5);
    expect(accepted(meta, pieceSpace(meta, FILES))).toEqual(Array(9).fill(true));
  });

  it('v2-only: a flipped byte fails its piece only: in a file of many pieces (its last, short, piece too) and in a file of one', () => {
    const meta = parsed('v2');
    const space = pieceSpace(meta, FILES);
    const fileAt = (path: string) => meta.files.find((f) => f.pathString === path)!.offset;
    // a.bin piece 1; a.bin's last byte (piece 2, 7,232 bytes of data); b.txt (one piece); c.bin piece 3 (index 7).
    for (const [at, piece] of [
      [fileAt('a.bin') + 20_000, 1],
      [fileAt('a.bin') + 39_999, 2],
      [fileAt('d/b.txt') + 4, 3],
      [fileAt('d/c.bin') + 3 * 16384 + 100, 7],
    ] as const) {
      const want = Array(9).fill(true);
      want[piece] = false;
      expect(accepted(meta, flipped(space, at)), `byte ${at}`).toEqual(want);
    }
  });

  it('v2-only: the bytes of a pad file are covered by no merkle tree (never stored, read back as zeros)', () => {
    const meta = parsed('v2');
    const pad = meta.files.find((f) => f.padding)!;
    expect(accepted(meta, flipped(pieceSpace(meta, FILES), pad.offset + 3))).toEqual(Array(9).fill(true));
  });

  it('hybrid: SHA-1 and merkle both; a pad byte fails the SHA-1', () => {
    const meta = parsed('hybrid', { pieceLength: 32768 });
    expect(verifyScheme(meta)).toBe('sha1+merkle');
    const space = pieceSpace(meta, FILES);
    expect(accepted(meta, space)).toEqual(Array(meta.pieceCount).fill(true));
    const pad = meta.files.find((f) => f.padding)!;
    const bad = accepted(meta, flipped(space, pad.offset));
    expect(bad.filter((ok) => !ok)).toHaveLength(1);
    expect(bad[Math.floor(pad.offset / 32768)]).toBe(false);
  });

  it('hybrid: the merkle half is checked too (data that passes SHA-1 but not the piece layer fails)', () => {
    const meta = parsed('hybrid');
    const space = pieceSpace(meta, FILES);
    // The v2 half of c.bin claims other bytes: its layer entry for piece 0 no longer matches.
    const c = meta.files.find((f) => f.pathString === 'd/c.bin')!;
    const layer = Uint8Array.from(c.pieceLayer!);
    layer[0] = layer[0]! ^ 0xff;
    c.pieceLayer = layer;
    const got = accepted(meta, space);
    expect(got.filter((ok) => !ok)).toEqual([false]);
    expect(got[c.offset / meta.pieceLength]).toBe(false);
  });

  it('a v1 torrent: SHA-1 of the piece', () => {
    const meta = parsed('hybrid');
    const v1: Metainfo = {
      ...meta,
      kind: 'v1',
      files: meta.files.map((f) => ({ ...f, piecesRoot: undefined, pieceLayer: undefined })),
    };
    expect(verifyScheme(v1)).toBe('sha1');
    const space = pieceSpace(meta, FILES);
    expect(accepted(v1, space).every(Boolean)).toBe(true);
    expect(accepted(v1, flipped(space, 0))[0]).toBe(false);
  });

  it('without piece layers: a v2-only torrent cannot verify those files until they are fetched (and says so); a hybrid falls back on SHA-1', () => {
    for (const version of ['v2', 'hybrid'] as const) {
      const meta = parsed(version);
      for (const f of meta.files) if (f.length > meta.pieceLength) delete f.pieceLayer; // as without 'piece layers'
      expect(filesMissingPieceLayers(meta).map((f) => f.pathString)).toEqual(['a.bin', 'd/c.bin']);
      const got = accepted(meta, pieceSpace(meta, FILES));
      if (version === 'v2') {
        expect(got).toEqual([false, false, false, true, false, false, false, false, false]);
        expect(missingLayersNote(meta)).toBe(
          'a BitTorrent v2-only torrent without the piece layers of 2 file(s): they are asked of peers (BEP 52 hash requests)',
        );
        // The layers fetched from peers (by file index), read at each call: added after the verifier was made.
        const full = parsed('v2');
        const fetched = new Map<number, Uint8Array>();
        const verify = pieceVerifier(meta, fetched);
        const space = pieceSpace(meta, FILES);
        expect(pieces(meta, space).map((p, i) => verify(i, p))).toEqual(got);
        full.files.forEach((f, i) => {
          if (f.length > meta.pieceLength) fetched.set(i, f.pieceLayer!);
        });
        expect(pieces(meta, space).map((p, i) => verify(i, p))).toEqual(Array(9).fill(true));
        expect(verify(0, pieces(meta, flipped(space, 0))[0]!)).toBe(false);
      } else {
        expect(got.every(Boolean)).toBe(true);
        expect(missingLayersNote(meta)).toBeUndefined();
      }
    }
    expect(missingLayersNote(parsed('v2'))).toBeUndefined();
  });

  it('data of the wrong size never verifies; an index outside the torrent throws', () => {
    const meta = parsed('v2');
    const verify = pieceVerifier(meta);
    const first = pieces(meta, pieceSpace(meta, FILES))[0]!;
    expect(verify(0, first.subarray(0, 16383))).toBe(false);
    expect(verify(0, new Uint8Array(16385))).toBe(false);
    expect(() => verify(9, first)).toThrow(RangeError);
    expect(() => verify(-1, first)).toThrow(RangeError);
  });

  it('blockHashesOf: SHA-1 blocks for v1; for v2 and hybrid the SHA-256 leaves of the file bytes, which hash to the piece layer', () => {
    for (const version of ['v2', 'hybrid'] as const) {
      const meta = parsed(version, { pieceLength: 32768 });
      const of = blockHashesOf(meta);
      const space = pieceSpace(meta, FILES);
      const all = pieces(meta, space).map((p, i) => of(i, p));
      // c.bin (70,000 bytes, 3 pieces of 32 KiB): its leaves, piece by piece, are the file's leaves.
      const c = meta.files.find((f) => f.path.join('/') === 'd/c.bin')!;
      const first = c.offset / meta.pieceLength;
      const leaves = blockHashes(FILES[2]!.data);
      expect(
        all
          .slice(first, first + 3)
          .flatMap((l) => l.slice(0, 2))
          .slice(0, leaves.length),
      ).toEqual(leaves);
      expect(
        pieceLayer(
          all.slice(first, first + 3).flatMap((l, k) => (k < 2 ? l : l.slice(0, 1))),
          32768,
        ),
      ).toEqual(pieceLayer(leaves, 32768));
      // A piece's last file block is hashed short; a block of padding past it by its bytes: one hash per block.
      const a = of(1, pieces(meta, space)[1]!); // a.bin: 40,000 bytes; piece 1 holds 7,232 of them, then padding
      expect(a).toHaveLength(2);
      expect(a[0]).toEqual(blockHashes(FILES[0]!.data.subarray(32768))[0]);
      expect(a[1]).toEqual(new Uint8Array(createHash('sha256').update(new Uint8Array(16384)).digest()));
    }
    const v1 = { ...parsed('hybrid'), kind: 'v1' as const };
    const piece = new Uint8Array(20000).fill(7);
    expect(blockHashesOf(v1)(0, piece)).toEqual([
      createHash('sha1').update(piece.subarray(0, 16384)).digest(),
      createHash('sha1').update(piece.subarray(16384)).digest(),
    ]);
  });
});
