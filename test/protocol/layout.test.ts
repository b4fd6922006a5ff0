/** Piece and block geometry (src/protocol/layout.ts). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BLOCK_LENGTH,
  blockBytes,
  blockCount,
  isPieceIndex,
  isRangeInPiece,
  lastPieceBytes,
  pieceBytes,
  pieceCountFor,
  pieceOffset,
  sameBlock,
  type PieceGeometry,
} from '../../src/protocol/layout.js';
import { propertyOptions } from '../support/fc.js';

const geometry = (length: number, pieceLength: number): PieceGeometry => ({
  length,
  pieceLength,
  pieceCount: pieceCountFor(length, pieceLength),
});

describe('pieces', () => {
  it('counts pieces, the last one possibly shorter', () => {
    expect(pieceCountFor(100_000, 32_768)).toBe(4);
    expect(pieceCountFor(4 * 32_768, 32_768)).toBe(4);
    expect(pieceCountFor(4 * 32_768 + 1, 32_768)).toBe(5);
    expect(pieceCountFor(1, 32_768)).toBe(1);
    expect(pieceCountFor(0, 32_768)).toBe(0);
  });

  it('sizes and places each piece', () => {
    const g = geometry(100_000, 32_768);
    expect(lastPieceBytes(g)).toBe(1_696);
    expect([0, 1, 2, 3].map((i) => pieceBytes(g, i))).toEqual([32_768, 32_768, 32_768, 1_696]);
    expect([0, 1, 2, 3].map((i) => pieceOffset(g, i))).toEqual([0, 32_768, 65_536, 98_304]);
    const whole = geometry(4 * 32_768, 32_768);
    expect(lastPieceBytes(whole)).toBe(32_768); // an exact multiple: the last piece is full
    expect(pieceBytes(whole, 3)).toBe(32_768);
    expect(lastPieceBytes(geometry(5, 32_768))).toBe(5); // one short piece
  });

  it('knows its piece indices', () => {
    const g = geometry(100_000, 32_768);
    expect([0, 1, 3].map((i) => isPieceIndex(g, i))).toEqual([true, true, true]);
    expect([4, -1, 0.5, Number.NaN, Number.POSITIVE_INFINITY].map((i) => isPieceIndex(g, i))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(isPieceIndex({ pieceCount: 0 }, 0)).toBe(false);
  });
});

describe('blocks', () => {
  it('splits a piece into 16 KiB blocks, the last one possibly shorter', () => {
    expect(BLOCK_LENGTH).toBe(16_384);
    const g = geometry(100_000, 32_768);
    expect(blockCount(g, 0)).toBe(2);
    expect(blockCount(g, 3)).toBe(1);
    expect(blockBytes(g, 0, 0)).toBe(16_384);
    expect(blockBytes(g, 0, 1)).toBe(16_384);
    expect(blockBytes(g, 3, 0)).toBe(1_696);
    const odd = geometry(3 * 40_000, 40_000); // 40,000 = 2 × 16,384 + 7,232
    expect(blockCount(odd, 1)).toBe(3);
    expect([0, 1, 2].map((b) => blockBytes(odd, 1, b))).toEqual([16_384, 16_384, 7_232]);
  });

  it('takes another block length', () => {
    const g = geometry(10_000, 4_096);
    expect(blockCount(g, 0, 1_000)).toBe(5);
    expect(blockBytes(g, 0, 4, 1_000)).toBe(96);
    expect(blockCount(g, 2, 1_000)).toBe(2); // the last piece: 1,808 bytes
    expect(blockBytes(g, 2, 1, 1_000)).toBe(808);
  });
});

describe('isRangeInPiece', () => {
  const g = geometry(100_000, 32_768);

  it('accepts a non-empty range inside a piece', () => {
    expect(isRangeInPiece(g, 0, 0, 16_384)).toBe(true);
    expect(isRangeInPiece(g, 0, 0, 32_768)).toBe(true);
    expect(isRangeInPiece(g, 2, 32_767, 1)).toBe(true);
    expect(isRangeInPiece(g, 3, 0, 1_696)).toBe(true);
    expect(isRangeInPiece(g, 3, 1_695, 1)).toBe(true);
  });

  it('refuses ranges outside the piece or the torrent, empty ones and non-integers', () => {
    expect(isRangeInPiece(g, 0, 1, 32_768)).toBe(false);
    expect(isRangeInPiece(g, 3, 0, 1_697)).toBe(false); // past the short last piece
    expect(isRangeInPiece(g, 3, 1_696, 1)).toBe(false);
    expect(isRangeInPiece(g, 4, 0, 1)).toBe(false);
    expect(isRangeInPiece(g, -1, 0, 1)).toBe(false);
    expect(isRangeInPiece(g, 0, 0, 0)).toBe(false);
    expect(isRangeInPiece(g, 0, -1, 2)).toBe(false);
    expect(isRangeInPiece(g, 0, 0, -1)).toBe(false);
    expect(isRangeInPiece(g, 0.5, 0, 1)).toBe(false);
    expect(isRangeInPiece(g, 0, 0.5, 1)).toBe(false);
    expect(isRangeInPiece(g, 0, 0, 1.5)).toBe(false);
    expect(isRangeInPiece(g, 0, Number.NaN, 1)).toBe(false);
    expect(isRangeInPiece(g, 0, 0, Number.POSITIVE_INFINITY)).toBe(false);
    // Wire values are u32: a begin near 2^32 does not wrap around.
    expect(isRangeInPiece(g, 0, 0xffffffff, 1)).toBe(false);
  });
});

describe('sameBlock', () => {
  it('compares index, begin and length', () => {
    const a = { index: 1, begin: 16_384, length: 16_384 };
    expect(sameBlock(a, { ...a })).toBe(true);
    expect(sameBlock(a, { ...a, index: 2 })).toBe(false);
    expect(sameBlock(a, { ...a, begin: 0 })).toBe(false);
    expect(sameBlock(a, { ...a, length: 100 })).toBe(false);
    // Other fields (a wire message's type, its time) do not matter.
    expect(sameBlock(a, { ...a, type: 'request', at: 5 } as typeof a)).toBe(true);
  });
});

describe('layout property', () => {
  /** Up to 12 pieces of up to 12 blocks (block lengths from 1 byte to 16 KiB), any last piece. */
  const caseArb = fc
    .record({
      blockLength: fc.oneof(fc.constant(BLOCK_LENGTH), fc.integer({ min: 1, max: BLOCK_LENGTH })),
      blocksPerPiece: fc.integer({ min: 1, max: 12 }),
      pieceSlack: fc.nat(),
      pieces: fc.integer({ min: 1, max: 12 }),
      lastSlack: fc.nat(),
    })
    .map(({ blockLength, blocksPerPiece, pieceSlack, pieces, lastSlack }) => {
      // A piece length of blocksPerPiece blocks, the last of them possibly partial.
      const pieceLength = (blocksPerPiece - 1) * blockLength + 1 + (pieceSlack % blockLength);
      const length = (pieces - 1) * pieceLength + 1 + (lastSlack % pieceLength);
      return { g: geometry(length, pieceLength), blockLength, pieces };
    });

  it('tiles every piece with its blocks and the torrent with its pieces', () => {
    fc.assert(
      fc.property(caseArb, ({ g, blockLength, pieces }) => {
        expect(g.pieceCount).toBe(pieces);
        let offset = 0;
        for (let i = 0; i < g.pieceCount; i++) {
          const size = pieceBytes(g, i);
          const ok = pieceOffset(g, i) === offset && size >= 1 && size <= g.pieceLength && isPieceIndex(g, i);
          if (!ok) expect({ i, offset: pieceOffset(g, i), size }).toEqual({ i, offset, size: 'in [1, pieceLength]' });
          // Pieces before the last are full.
          if (i < g.pieceCount - 1 && size !== g.pieceLength) expect(size).toBe(g.pieceLength);
          let begin = 0;
          const n = blockCount(g, i, blockLength);
          for (let b = 0; b < n; b++) {
            const len = blockBytes(g, i, b, blockLength);
            const inside = len >= 1 && len <= blockLength && isRangeInPiece(g, i, begin, len);
            // Blocks before the last are full, and a block cannot reach past its piece.
            const full = b === n - 1 || len === blockLength;
            if (!inside || !full || isRangeInPiece(g, i, begin, len + (b === n - 1 ? 1 : size))) {
              expect({ i, b, begin, len }).toBe('a block inside its piece');
            }
            begin += len;
          }
          if (begin !== size) expect({ i, blocksCover: begin }).toEqual({ i, blocksCover: size });
          offset += size;
        }
        expect(offset).toBe(g.length);
        expect(lastPieceBytes(g)).toBe(pieceBytes(g, g.pieceCount - 1));
        expect(isPieceIndex(g, g.pieceCount)).toBe(false);
        expect(isRangeInPiece(g, g.pieceCount, 0, 1)).toBe(false);
      }),
      propertyOptions,
    );
  });
});
