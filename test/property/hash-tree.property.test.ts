/**
 * BEP 52 hash serving (src/protocol/hash-tree.ts) against a naive tree written from the BEP's words
 * (leaves padded with zero hashes to a power of two, pairs hashed up): for any file of random leaves and
 * any piece length, every node of the trees built from the piece layer is the naive node; every
 * request is answered with hashes or rejected, never a throw; an answer reaching the root proves the
 * range against the pieces root, and any flipped byte makes the proof fail.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  answerHashRequest,
  hashCountOf,
  hashTreesOf,
  MAX_SERVED_HASHES,
  verifyHashes,
  type HashTrees,
} from '../../src/protocol/hash-tree.js';
import { pieceLayer } from '../../src/protocol/merkle.js';
import type { HashRange } from '../../src/protocol/wire.js';
import { propertyOptions } from '../support/fc.js';

const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const ZERO = new Uint8Array(32);
const concat = (hs: Uint8Array[]) => {
  const out = new Uint8Array(hs.length * 32);
  hs.forEach((h, i) => out.set(h, i * 32));
  return out;
};

/** The naive node `index` of `layer` (0: the leaves) of the tree over `leaves`. */
function naiveNode(leaves: Uint8Array[], layer: number, index: number): Uint8Array {
  if (layer === 0) return leaves[index] ?? ZERO;
  return sha(naiveNode(leaves, layer - 1, 2 * index), naiveNode(leaves, layer - 1, 2 * index + 1));
}

const log2 = (n: number) => Math.round(Math.log2(n));
const pow2 = (n: number) => {
  let p = 1;
  while (p < n) p *= 2;
  return p;
};

/** A file of `blocks` random leaves, longer than one piece of `perPiece` blocks. */
const fileArb = fc
  .record({ perPieceLog: fc.integer({ min: 0, max: 3 }), seed: fc.integer(), extra: fc.integer({ min: 1, max: 60 }) })
  .map(({ perPieceLog, seed, extra }) => {
    const perPiece = 2 ** perPieceLog;
    const blocks = perPiece + extra;
    const leaves = Array.from({ length: blocks }, (_, i) => sha(Uint8Array.of(seed & 0xff, seed >>> 8, i, i >>> 8)));
    const pieceLength = perPiece * 16384;
    const root = naiveNode(leaves, log2(pow2(blocks)), 0);
    const layer = concat(pieceLayer(leaves, pieceLength));
    const trees = hashTreesOf({
      pieceLength,
      files: [{ length: (blocks - 1) * 16384 + 1 + (seed & 0x3fff), piecesRoot: root, pieceLayer: layer }],
    });
    return { leaves, perPieceLog, numLayers: log2(pow2(blocks)), root, trees };
  });

/** A request that is valid for the file (base at or above the piece layer, aligned, proof to the root). */
function validRequest(
  f: { perPieceLog: number; numLayers: number; root: Uint8Array },
  pick: { base: number; lengthLog: number; slot: number },
): HashRange {
  const baseLayer = f.perPieceLog + (pick.base % (f.numLayers - f.perPieceLog));
  const width = 2 ** (f.numLayers - baseLayer);
  const length = Math.min(2 ** (pick.lengthLog % 10), width, MAX_SERVED_HASHES);
  const index = (pick.slot % (width / length)) * length;
  return { piecesRoot: f.root, baseLayer, index, length, proofLayers: f.numLayers - baseLayer - 1 };
}

const pickArb = fc.record({ base: fc.nat(), lengthLog: fc.nat(), slot: fc.nat() });

describe('BEP 52 hash serving properties', () => {
  it('answers a valid request with the naive nodes of the range and a proof that reaches the pieces root', () => {
    fc.assert(
      fc.property(fileArb, pickArb, (f, pick) => {
        const range = validRequest(f, pick);
        const a = answerHashRequest(f.trees, range);
        expect(a.kind).toBe('hashes');
        if (a.kind !== 'hashes') return;
        expect(a.hashes.length).toBe(32 * hashCountOf(range));
        for (let i = 0; i < range.length; i++)
          expect(a.hashes.subarray(32 * i, 32 * i + 32)).toEqual(naiveNode(f.leaves, range.baseLayer, range.index + i));
        expect(verifyHashes(f.root, f.numLayers, range, a.hashes)).toBe(true);
      }),
      { ...propertyOptions, numRuns: Math.min(propertyOptions.numRuns, 2000) },
    );
  });

  it('any flipped byte of an answer, or a different root, fails the proof', () => {
    fc.assert(
      fc.property(fileArb, pickArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (f, pick, at, x) => {
        const range = validRequest(f, pick);
        const a = answerHashRequest(f.trees, range);
        if (a.kind !== 'hashes') expect.unreachable('a valid request is answered');
        const bad = (a as { hashes: Uint8Array }).hashes.slice();
        bad[at % bad.length]! ^= x;
        expect(verifyHashes(f.root, f.numLayers, range, bad)).toBe(false);
        const otherRoot = f.root.slice();
        otherRoot[at % 32]! ^= x;
        expect(verifyHashes(otherRoot, f.numLayers, range, (a as { hashes: Uint8Array }).hashes)).toBe(false);
      }),
      { ...propertyOptions, numRuns: Math.min(propertyOptions.numRuns, 2000) },
    );
  });

  it('any request gets hashes or a reject, never a throw; hashes only for a range inside the tree', () => {
    const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 40 }));
    fc.assert(
      fc.property(
        fileArb,
        fc.record({ baseLayer: u32, index: u32, length: u32, proofLayers: u32 }),
        fc.boolean(),
        (f, fields, known) => {
          const range: HashRange = { piecesRoot: known ? f.root : new Uint8Array(32).fill(1), ...fields };
          const a = answerHashRequest(f.trees, range);
          if (a.kind === 'reject') {
            expect(a.why.length).toBeGreaterThan(0);
            return;
          }
          expect(known).toBe(true);
          expect(range.baseLayer).toBeGreaterThanOrEqual(f.perPieceLog);
          expect(range.baseLayer + range.proofLayers).toBeLessThan(f.numLayers);
          expect(range.length).toBeLessThanOrEqual(MAX_SERVED_HASHES);
          expect(range.index % range.length).toBe(0);
          expect(range.index + range.length).toBeLessThanOrEqual(2 ** (f.numLayers - range.baseLayer));
          expect(a.hashes.length).toBe(32 * hashCountOf(range));
        },
      ),
      propertyOptions,
    );
  });

  it('no trees (a v1 torrent) or an empty set: every request is rejected', () => {
    const empty: HashTrees = hashTreesOf({ pieceLength: 16384, files: [{ length: 100 }] });
    expect(empty.byRoot.size).toBe(0);
    const range: HashRange = { piecesRoot: ZERO, baseLayer: 0, index: 0, length: 2, proofLayers: 0 };
    expect(answerHashRequest(undefined, range).kind).toBe('reject');
    expect(answerHashRequest(empty, range).kind).toBe('reject');
  });
});

describe('BEP 52 hash serving examples', () => {
  // 10 pieces of 32 KiB (19 blocks... as libtorrent asks for them: base 1, 16 hashes, 3 proof layers).
  const leaves = Array.from({ length: 19 }, (_, i) => sha(Uint8Array.of(i)));
  const root = naiveNode(leaves, 5, 0);
  const trees = hashTreesOf({
    pieceLength: 32768,
    files: [{ length: 300_000, piecesRoot: root, pieceLayer: concat(pieceLayer(leaves, 32768)) }],
  });

  it('libtorrent 2.0.8 request for a 10-piece file: 16 hashes (10 pieces, 6 pads), no uncles', () => {
    const range: HashRange = { piecesRoot: root, baseLayer: 1, index: 0, length: 16, proofLayers: 3 };
    const a = answerHashRequest(trees, range);
    if (a.kind !== 'hashes') return expect.unreachable(a.why);
    expect(a.hashes.length).toBe(16 * 32);
    expect(a.hashes.subarray(10 * 32, 11 * 32)).toEqual(sha(ZERO, ZERO)); // a pad of layer 1
    expect(verifyHashes(root, 5, range, a.hashes)).toBe(true);
    expect(trees.chunks).toBe(1);
  });

  it('rejects what it cannot prove or does not hold', () => {
    const ok: HashRange = { piecesRoot: root, baseLayer: 1, index: 0, length: 16, proofLayers: 3 };
    const why = (r: Partial<HashRange>) => {
      const a = answerHashRequest(trees, { ...ok, ...r });
      return a.kind === 'reject' ? a.why : 'answered';
    };
    expect(why({})).toBe('answered');
    expect(why({ baseLayer: 0, length: 32 })).toMatch(/below the piece layer/);
    expect(why({ baseLayer: 5, length: 1, proofLayers: 0 })).toMatch(/not below the root/);
    expect(why({ length: 12 })).toMatch(/power of two/);
    expect(why({ index: 4, length: 8 })).toMatch(/not a range/);
    expect(why({ index: 8, length: 16 })).toMatch(/not a range/);
    expect(why({ proofLayers: 4 })).toMatch(/past the root/);
    expect(why({ piecesRoot: ZERO })).toMatch(/no tree/);
    // Two hashes with their proof: uncles at layers 2, 3 and 4 (the siblings of their ancestors).
    const two: HashRange = { ...ok, index: 6, length: 2 };
    const a = answerHashRequest(trees, two);
    if (a.kind !== 'hashes') return expect.unreachable(a.why);
    expect(a.hashes.length).toBe((2 + 3) * 32);
    expect(a.hashes.subarray(64, 96)).toEqual(naiveNode(leaves, 2, 2));
    expect(a.hashes.subarray(96, 128)).toEqual(naiveNode(leaves, 3, 0));
    expect(a.hashes.subarray(128, 160)).toEqual(naiveNode(leaves, 4, 1));
    expect(verifyHashes(root, 5, two, a.hashes)).toBe(true);
  });
});
