/**
 * BEP 52 block blame alone (src/machines/torrent/block-hashes.ts): which layer-0 range a failed piece is
 * asked by and what it must prove against, one request per piece, the cap on waiting pieces, answers
 * from the peer asked only, leaves that do not prove, rejects, timeouts, and the verdict naming only
 * the senders of the blocks whose leaf differs.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlockHashes, blockProofOf, MAX_BLAME_PIECES } from '../../src/machines/torrent/block-hashes.js';
import { hashTreesOf } from '../../src/protocol/hash-tree.js';
import { blockHashes, HASH_SIZE, merkleRoot, pieceLayer, rootFromPieceLayer } from '../../src/protocol/merkle.js';

const PIECE = 64 * 1024; // 4 blocks
const BLOCK = 16 * 1024;

/** A v2 torrent of two files: one of 3 pieces and a half (layer known), one of 2½ blocks (one piece). */
function torrent() {
  const big = randomBytes(3 * PIECE + PIECE / 2);
  const small = randomBytes(2 * BLOCK + BLOCK / 2);
  const bigLeaves = blockHashes(big);
  const bigLayer = pieceLayer(bigLeaves, PIECE);
  const bigRoot = rootFromPieceLayer(bigLayer, PIECE);
  const smallRoot = merkleRoot(blockHashes(small));
  const files = [
    { length: big.length, piecesRoot: bigRoot },
    { length: PIECE / 2, padding: true },
    { length: small.length, piecesRoot: smallRoot },
  ];
  const trees = hashTreesOf({
    pieceLength: PIECE,
    files: [{ length: big.length, piecesRoot: bigRoot, pieceLayer: Uint8Array.from(Buffer.concat(bigLayer)) }],
  });
  return { big, small, files, trees, bigRoot, smallRoot, bigLayer };
}

/** The honest answer for a piece's range: its leaves (zero hashes past the file), `width` of them. */
function leavesOf(bytes: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(width * HASH_SIZE);
  blockHashes(bytes).forEach((h, i) => out.set(h, i * HASH_SIZE));
  return out;
}

describe('blockProofOf', () => {
  it('a piece of a long file: its first block, the piece width, the leaves alone, against its layer entry', () => {
    const t = torrent();
    expect(blockProofOf(t.files, PIECE, t.trees, 1)).toEqual({
      range: { piecesRoot: t.bigRoot, baseLayer: 0, index: 4, length: 4, proofLayers: 1 },
      expected: t.bigLayer[1],
      blocks: 4,
    });
    // The file's last piece holds 2 blocks of it: only those have leaves to compare.
    expect(blockProofOf(t.files, PIECE, t.trees, 3)).toMatchObject({ range: { index: 12, length: 4 }, blocks: 2 });
  });

  it('a file of one piece: as wide as its blocks need (a power of two), proven against its root', () => {
    const t = torrent();
    expect(blockProofOf(t.files, PIECE, t.trees, 4)).toEqual({
      range: { piecesRoot: t.smallRoot, baseLayer: 0, index: 0, length: 4, proofLayers: 1 },
      expected: t.smallRoot,
      blocks: 3,
    });
  });

  it('none without a v2 file, without the layer, or for a piece of one block', () => {
    const t = torrent();
    expect(blockProofOf(undefined, PIECE, t.trees, 0)).toBeUndefined();
    expect(blockProofOf([{ length: 4 * PIECE }], PIECE, t.trees, 0)).toBeUndefined();
    expect(blockProofOf(t.files, PIECE, undefined, 0)).toBeUndefined();
    expect(blockProofOf(t.files, PIECE, t.trees, 5)).toBeUndefined(); // past the torrent
    const one = [{ length: BLOCK, piecesRoot: merkleRoot(blockHashes(randomBytes(BLOCK))) }];
    expect(blockProofOf(one, PIECE, undefined, 0)).toBeUndefined();
  });
});

describe('BlockHashes', () => {
  it('asks one peer per failed piece; the proven leaves name only the senders of differing blocks', () => {
    const t = torrent();
    const proof = blockProofOf(t.files, PIECE, t.trees, 1)!;
    const good = t.big.subarray(PIECE, 2 * PIECE);
    const bad = Uint8Array.from(good);
    bad[2 * BLOCK + 5]! ^= 1; // block 2 is bad
    const b = new BlockHashes(10_000);
    b.failed(1, ['A', 'B', 'C', 'A'], blockHashes(bad), proof);
    const asked = b.assign(() => ['D', 'E'], 0);
    expect(asked).toEqual([{ key: 'D', range: proof.range }]);
    expect(b.assign(() => ['D', 'E'], 1)).toEqual([]); // one request out per piece
    expect(b.received('E', proof.range, leavesOf(good, 4))).toBe('unasked');
    expect(b.received('D', proof.range, leavesOf(good, 4))).toEqual({ index: 1, guilty: ['C'] });
    expect(b.has(1)).toBe(false);
  });

  it('every recorded copy is judged; padding blocks past the file are not compared', () => {
    const t = torrent();
    const proof = blockProofOf(t.files, PIECE, t.trees, 3)!; // 2 blocks of file, 2 of padding
    const good = new Uint8Array(PIECE);
    good.set(t.big.subarray(3 * PIECE));
    const copy1 = Uint8Array.from(good);
    copy1[10]! ^= 1;
    const copy2 = Uint8Array.from(good);
    copy2[BLOCK + 10]! ^= 1;
    copy2[3 * BLOCK]! ^= 1; // padding: not a leaf
    const b = new BlockHashes(10_000);
    b.failed(3, ['A', 'B', 'C', 'D'], blockHashes(copy1), proof);
    b.failed(3, ['E', 'F', 'G', 'H'], blockHashes(copy2), proof);
    const [{ key, range }] = b.assign(() => ['X'], 0) as [{ key: string; range: typeof proof.range }];
    expect(b.received(key, range, leavesOf(t.big.subarray(3 * PIECE), 4))).toEqual({ index: 3, guilty: ['A', 'F'] });
  });

  it('leaves that do not prove are the answerer\u2019s fault; a reject or a timeout sends the request to another', () => {
    const t = torrent();
    const proof = blockProofOf(t.files, PIECE, t.trees, 0)!;
    const b = new BlockHashes(10_000);
    b.failed(0, ['A', 'B', 'A', 'B'], blockHashes(randomBytes(PIECE)), proof);
    const peers = () => ['P', 'Q', 'R', 'S'];
    expect(b.assign(peers, 0).map((x) => x.key)).toEqual(['P']);
    expect(b.received('P', proof.range, randomBytes(4 * HASH_SIZE))).toBe('bad');
    expect(b.assign(peers, 1).map((x) => x.key)).toEqual(['Q']);
    expect(b.rejected('P', proof.range)).toBe(false);
    expect(b.rejected('Q', proof.range)).toBe(true);
    expect(b.assign(peers, 2).map((x) => x.key)).toEqual(['R']);
    expect(b.assign(peers, 10_001).map((x) => x.key)).toEqual([]); // R has 10 s
    expect(b.assign(peers, 10_002).map((x) => x.key)).toEqual(['S']);
    b.peerGone('S');
    expect(b.assign(peers, 10_003).map((x) => x.key)).toEqual(['S']); // gone is not tried: asked again if back
    expect(b.assign(() => [], 30_000)).toEqual([]); // nobody left untried
    expect(b.has(0)).toBe(true);
  });

  it('bounded: at most MAX_BLAME_PIECES pieces wait (the oldest go); a verified piece is forgotten', () => {
    const t = torrent();
    const proof = blockProofOf(t.files, PIECE, t.trees, 0)!;
    const b = new BlockHashes(10_000);
    for (let i = 0; i < MAX_BLAME_PIECES + 5; i++) b.failed(i, ['A'], [new Uint8Array(32)], proof);
    expect(b.size).toBe(MAX_BLAME_PIECES);
    expect(b.has(4)).toBe(false);
    expect(b.has(5)).toBe(true);
    b.forget(5);
    expect(b.has(5)).toBe(false);
    // A copy whose hashes do not match its senders is not recorded.
    b.failed(1000, ['A', 'B'], [new Uint8Array(32)], proof);
    expect(b.has(1000)).toBe(false);
  });
});
