import { describe, it, expect } from 'vitest';
import { Bitfield, BitfieldError } from '../../src/protocol/bitfield.js';
import { isBtError } from '../../src/protocol/errors.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BitfieldError);
    return (err as BitfieldError).code;
  }
  return undefined;
}

describe('Bitfield', () => {
  it('reads the high bit of byte 0 as piece 0', () => {
    const b = Bitfield.fromBytes(Uint8Array.of(0b1010_0000, 0b0100_0000), 10);
    expect(b.length).toBe(10);
    expect([0, 1, 2, 3, 9].map((i) => b.has(i))).toEqual([true, false, true, false, true]);
    expect(b.count).toBe(3);
    expect([...b.setBits()]).toEqual([0, 2, 9]);
    expect(b.firstSet()).toBe(0);
  });

  it('rejects a payload of the wrong length', () => {
    expect(codeOf(() => Bitfield.fromBytes(new Uint8Array(1), 9))).toBe('BT_ERR_BITFIELD_LENGTH');
    expect(codeOf(() => Bitfield.fromBytes(new Uint8Array(3), 9))).toBe('BT_ERR_BITFIELD_LENGTH');
    expect(codeOf(() => Bitfield.fromBytes(new Uint8Array(1), 0))).toBe('BT_ERR_BITFIELD_LENGTH');
    expect(codeOf(() => new Bitfield(-1))).toBe('BT_ERR_BITFIELD_LENGTH');
    expect(codeOf(() => new Bitfield(1.5))).toBe('BT_ERR_BITFIELD_LENGTH');
  });

  it('rejects non-zero spare bits', () => {
    expect(codeOf(() => Bitfield.fromBytes(Uint8Array.of(0xff, 0x80), 9))).toBeUndefined();
    expect(codeOf(() => Bitfield.fromBytes(Uint8Array.of(0xff, 0x40), 9))).toBe('BT_ERR_BITFIELD_SPARE_BITS');
    expect(codeOf(() => Bitfield.fromBytes(Uint8Array.of(0x01), 7))).toBe('BT_ERR_BITFIELD_SPARE_BITS');
    expect(codeOf(() => Bitfield.fromBytes(Uint8Array.of(0xff), 8))).toBeUndefined();
  });

  it('throws BT_ERR_BITFIELD_INDEX for indices outside the piece range', () => {
    const b = new Bitfield(10);
    for (const i of [-1, 10, 11, 1.5, Number.NaN]) {
      expect(codeOf(() => b.has(i))).toBe('BT_ERR_BITFIELD_INDEX');
      expect(codeOf(() => b.set(i))).toBe('BT_ERR_BITFIELD_INDEX');
      expect(codeOf(() => b.clear(i))).toBe('BT_ERR_BITFIELD_INDEX');
    }
    try {
      b.has(10);
    } catch (err) {
      expect(isBtError(err, 'BT_ERR_BITFIELD_INDEX')).toBe(true);
      expect(err).not.toBeInstanceOf(RangeError);
    }
  });

  it('keeps the count as bits change', () => {
    const b = new Bitfield(12);
    expect(b.isEmpty).toBe(true);
    expect(b.set(3)).toBe(true);
    expect(b.set(3)).toBe(false);
    expect(b.set(11)).toBe(true);
    expect(b.count).toBe(2);
    expect(b.clear(3)).toBe(true);
    expect(b.clear(3)).toBe(false);
    expect(b.count).toBe(1);
    expect(b.toBytes()).toEqual(Uint8Array.of(0x00, 0x10));
    expect(b.firstSet()).toBe(11);
  });

  it('builds a full bitfield with zero spare bits', () => {
    const f = Bitfield.full(10);
    expect(f.toBytes()).toEqual(Uint8Array.of(0xff, 0xc0));
    expect(f.count).toBe(10);
    expect(f.isComplete).toBe(true);
    expect(Bitfield.full(0).isComplete).toBe(true);
    expect(Bitfield.full(0).isEmpty).toBe(true);
    expect(Bitfield.full(16).toBytes()).toEqual(Uint8Array.of(0xff, 0xff));
  });

  it('copies: toBytes, fromBytes and clone do not share memory', () => {
    const src = Uint8Array.of(0x80);
    const b = Bitfield.fromBytes(src, 3);
    src[0] = 0xe0;
    expect(b.count).toBe(1);
    b.toBytes()[0] = 0xe0;
    expect(b.count).toBe(1);
    expect(b.has(1)).toBe(false);
    const c = b.clone();
    c.set(2);
    expect(b.has(2)).toBe(false);
    expect(c.count).toBe(2);
  });

  it('is interested when the other side has a piece we lack', () => {
    const mine = Bitfield.fromBytes(Uint8Array.of(0xf0), 8);
    expect(mine.interesting(Bitfield.fromBytes(Uint8Array.of(0xa0), 8))).toBe(false);
    expect(mine.interesting(Bitfield.fromBytes(Uint8Array.of(0x08), 8))).toBe(true);
    expect(new Bitfield(0).interesting(new Bitfield(0))).toBe(false);
    expect(codeOf(() => mine.interesting(new Bitfield(9)))).toBe('BT_ERR_BITFIELD_LENGTH');
  });

  it('iterates with forEach in ascending order and reports -1 when empty', () => {
    const b = new Bitfield(20);
    for (const i of [19, 0, 7, 8]) b.set(i);
    const seen: number[] = [];
    b.forEach((i) => seen.push(i));
    expect(seen).toEqual([0, 7, 8, 19]);
    expect(new Bitfield(20).firstSet()).toBe(-1);
  });
});
