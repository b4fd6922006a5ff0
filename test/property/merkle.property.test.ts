/**
 * BEP 52 merkle trees against a naive implementation written from the BEP's words (a recursive tree
 * over the leaves padded with zero hashes to a power of two), for any number of leaves and any file
 * size; piece layers and proofs; and v2 metainfo built from garbage: a MetainfoError or a Metainfo,
 * never another exception.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BLOCK_SIZE,
  blockHashes,
  blockProof,
  fileRoot,
  merkleRoot,
  pieceHash,
  pieceLayer,
  rootFromPieceLayer,
  verifyBlock,
} from '../../src/protocol/merkle.js';
import { encodeCanonical, type CanonicalValue } from '../../src/protocol/bencode.js';
import { MetainfoError, parseMetainfo, toHex } from '../../src/protocol/metainfo.js';
import { propertyOptions } from '../support/fc.js';
import { pattern, v2Torrent } from '../support/v2-torrent.js';

const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const ZERO = new Uint8Array(32);

/** BEP 52 read literally: pad the leaves with zero hashes to a power of two, hash pairs up to one. */
function naiveRoot(leaves: Uint8Array[], width?: number): Uint8Array {
  let w = 1;
  while (w < Math.max(leaves.length, width ?? 1)) w *= 2;
  const padded = [...leaves, ...Array.from({ length: w - leaves.length }, () => ZERO)];
  const up = (nodes: Uint8Array[]): Uint8Array =>
    nodes.length === 1 ? nodes[0]! : up(nodes.flatMap((n, i) => (i % 2 ? [] : [sha(n, nodes[i + 1]!)])));
  return up(padded);
}

const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const leavesArb = fc.array(hashArb, { minLength: 1, maxLength: 40 });
const pieceLengthArb = fc.constantFrom(16384, 32768, 65536, 262144);

describe('merkle trees (BEP 52)', () => {
  it('the root of any number of leaves is the naive root', () => {
    fc.assert(
      fc.property(leavesArb, (leaves) => {
        expect(toHex(merkleRoot(leaves))).toBe(toHex(naiveRoot(leaves)));
      }),
      propertyOptions,
    );
  });

  it("a file of any size: its root is the naive root of its 16 KiB blocks' hashes (the last one short)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 * BLOCK_SIZE + 1 }), fc.nat(), (size, seed) => {
        const data = pattern(size, seed);
        const leaves: Uint8Array[] = [];
        for (let at = 0; at < size; at += BLOCK_SIZE) leaves.push(sha(data.subarray(at, at + BLOCK_SIZE)));
        expect(toHex(fileRoot(data)!)).toBe(toHex(naiveRoot(leaves)));
      }),
      propertyOptions,
    );
  });

  it('the piece layer hashes up to the root for a file longer than a piece; each piece is its blocks', () => {
    fc.assert(
      fc.property(leavesArb, pieceLengthArb, (leaves, pieceLength) => {
        const per = pieceLength / BLOCK_SIZE;
        const layer = pieceLayer(leaves, pieceLength);
        expect(layer).toHaveLength(Math.ceil(leaves.length / per));
        layer.forEach((h, i) => expect(toHex(h)).toBe(toHex(naiveRoot(leaves.slice(i * per, (i + 1) * per), per))));
        if (leaves.length > per) expect(toHex(rootFromPieceLayer(layer, pieceLength))).toBe(toHex(naiveRoot(leaves)));
      }),
      propertyOptions,
    );
  });

  it("a block verifies against its piece's hash with its proof; any other block or place does not", () => {
    fc.assert(
      fc.property(
        fc.array(hashArb, { minLength: 1, maxLength: 16 }),
        fc.constantFrom(16384, 65536, 262144),
        fc.nat(),
        hashArb,
        (leaves, pieceLength, pick, other) => {
          const per = pieceLength / BLOCK_SIZE;
          const piece = leaves.slice(0, per);
          const i = pick % piece.length;
          const expected = pieceHash(piece, pieceLength);
          const proof = blockProof(piece, i, per);
          expect(proof).toHaveLength(Math.log2(per));
          expect(verifyBlock(piece[i]!, i, proof, expected)).toBe(true);
          if (toHex(other) !== toHex(piece[i]!)) expect(verifyBlock(other, i, proof, expected)).toBe(false);
          if (per > 1 && toHex(piece[i]!) !== toHex(piece[i ^ 1] ?? ZERO))
            expect(verifyBlock(piece[i]!, i ^ 1, proof, expected)).toBe(false);
        },
      ),
      propertyOptions,
    );
  });

  it('blockHashes cuts at 16 KiB', () => {
    expect(blockHashes(pattern(3 * BLOCK_SIZE + 1)).map((h) => h.length)).toEqual([32, 32, 32, 32]);
    expect(blockHashes(new Uint8Array(0))).toEqual([]);
  });
});

/** Any bencode value, shaped to look like parts of a v2 torrent often. */
const valueArb: fc.Arbitrary<CanonicalValue> = fc.letrec<{ v: CanonicalValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.integer({ min: -2, max: 70000 }),
    fc.constantFrom(0, 16384, 32768, 2 ** 40),
    fc.uint8Array({ maxLength: 40 }),
    fc.constantFrom<CanonicalValue>('p', 'l', 'x', '', '..', '.pad'),
    fc.array(tie('v'), { maxLength: 3 }),
    fc
      .array(
        fc.tuple(
          fc.constantFrom('', 'length', 'pieces root', 'attr', 'symlink path', 'a', 'b', '..', '10', '9'),
          tie('v'),
        ),
        { maxLength: 4 },
      )
      .map((entries) => new Map(entries)),
  ),
})).v;

describe('v2 metainfo from garbage', () => {
  it('a torrent with a random file tree, piece layers and v1 half: a Metainfo or a MetainfoError', () => {
    fc.assert(
      fc.property(
        valueArb,
        valueArb,
        fc.option(valueArb),
        fc.constantFrom(16384, 32768, 12345),
        (tree, layers, files, pieceLength) => {
          const info = new Map<string, CanonicalValue>([
            ['name', 'x'],
            ['piece length', pieceLength],
            ['meta version', 2],
            ['file tree', tree],
          ]);
          if (files !== null) info.set('files', files).set('pieces', new Uint8Array(20));
          const bytes = encodeCanonical(
            new Map<string, CanonicalValue>([
              ['info', info],
              ['piece layers', layers],
            ]),
          );
          try {
            const m = parseMetainfo(bytes);
            expect(m.kind).not.toBe('v1');
            // A v2-only layout pads every file to a piece: the pieces cover it exactly.
            if (m.kind === 'v2') expect(m.length).toBe(m.pieceCount * pieceLength);
          } catch (err) {
            if (!(err instanceof MetainfoError)) throw err;
          }
        },
      ),
      propertyOptions,
    );
  });

  it('mutated and truncated v2 and hybrid torrents: a Metainfo or a MetainfoError', () => {
    const base = [
      v2Torrent(
        [
          { path: ['a'], data: pattern(40000) },
          { path: ['d', 'b'], data: pattern(5, 2) },
        ],
        { pieceLength: 16384 },
      ),
      v2Torrent([{ path: ['a'], data: pattern(40000) }], { version: 'hybrid', multiFile: false }),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (which, flips, cut) => {
          const bytes = Uint8Array.from(base[which]!);
          for (const [at, b] of flips) bytes[at % bytes.length] = b;
          const input = cut % 5 === 0 ? bytes.subarray(0, cut % bytes.length) : bytes;
          try {
            parseMetainfo(input);
          } catch (err) {
            if (!(err instanceof MetainfoError)) throw err;
          }
        },
      ),
      propertyOptions,
    );
  });
});
