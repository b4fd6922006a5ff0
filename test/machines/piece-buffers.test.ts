import { describe, expect, it } from 'vitest';
import { PieceBuffers } from '../../src/machines/torrent/piece-buffers.js';

const PIECE = 1024;
const block = (fill: number, n = 512) => new Uint8Array(n).fill(fill);

describe('PieceBuffers', () => {
  it('assembles blocks into their piece and hands the piece out once', () => {
    const b = new PieceBuffers(() => PIECE);
    b.addBlock(3, 512, block(2));
    b.addBlock(3, 0, block(1));
    const piece = b.take(3)!;
    expect([...piece.subarray(0, 512)].every((x) => x === 1)).toBe(true);
    expect([...piece.subarray(512)].every((x) => x === 2)).toBe(true);
    expect(b.take(3)).toBeUndefined();
    expect(b.pending).toBe(1);
  });

  it('reuses the buffer of a written piece for the next piece', () => {
    const b = new PieceBuffers(() => PIECE);
    b.addBlock(0, 0, block(1));
    const first = b.take(0)!;
    b.done(0);
    b.addBlock(1, 0, block(2));
    expect(b.take(1)).toBe(first);
  });

  it('leaves room for requests of the cap less the bytes of pieces not verified yet', () => {
    const b = new PieceBuffers(() => PIECE, { maxPendingBytes: 3 * PIECE });
    expect(b.limit).toBe(3 * PIECE);
    expect(b.room(0)).toBe(3 * PIECE);
    expect(b.room(PIECE / 2)).toBe(2.5 * PIECE);
    expect(b.room(3 * PIECE)).toBe(0);
    expect(b.room(5 * PIECE)).toBe(0);
  });

  it('always lets two pieces wait, however large', () => {
    const b = new PieceBuffers(() => 8 * PIECE, { maxPendingBytes: PIECE });
    expect(b.limit).toBe(16 * PIECE);
    expect(b.room(8 * PIECE)).toBe(8 * PIECE);
    expect(b.room(16 * PIECE)).toBe(0);
  });

  it('with the backlog over its cap, a written piece gives its buffer to the next piece (no new buffer)', () => {
    const b = new PieceBuffers(() => PIECE, { maxPendingBytes: 3 * PIECE });
    const buffers = new Set<Uint8Array>();
    // Pieces in progress when the backlog filled still complete: 5 wait for a cap of 3.
    for (let i = 0; i < 5; i++) {
      b.addBlock(i, 0, block(i));
      buffers.add(b.take(i)!);
    }
    // Written in a burst, then as many new pieces: all on the buffers already there.
    for (let i = 0; i < 5; i++) b.done(i);
    for (let i = 5; i < 10; i++) {
      b.addBlock(i, 0, block(i));
      expect(buffers.has(b.take(i)!)).toBe(true);
    }
    expect(b.bytesHeld).toBe(5 * PIECE);
  });

  it('keeps at most twice the cap in free buffers, and none after trim()', () => {
    const b = new PieceBuffers(() => PIECE, { maxPendingBytes: 2 * PIECE });
    for (let i = 0; i < 6; i++) {
      b.addBlock(i, 0, block(i));
      b.take(i);
    }
    for (let i = 0; i < 6; i++) b.done(i);
    // 6 pieces were written, but only 4 buffers are kept for reuse.
    expect(b.bytesHeld).toBe(4 * PIECE);
    b.trim();
    expect(b.bytesHeld).toBe(0);
    b.addBlock(6, 0, block(6));
    expect(b.take(6)).toHaveLength(PIECE);
  });
});
