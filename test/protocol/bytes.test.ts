/** Hex text and byte comparison (src/protocol/bytes.ts). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { equalBytes, fromHex, toHex } from '../../src/protocol/bytes.js';
import { propertyOptions } from '../support/fc.js';

describe('toHex', () => {
  it('writes lowercase hex, two digits a byte', () => {
    expect(toHex(new Uint8Array([0, 1, 0x0f, 0x10, 0xab, 0xff]))).toBe('00010f10abff');
    expect(toHex(new Uint8Array(0))).toBe('');
  });

  it('reads only the bytes of a subarray view, not its whole buffer', () => {
    const all = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02]);
    expect(toHex(all.subarray(2, 4))).toBe('beef');
    expect(toHex(all.subarray(5))).toBe('02');
    expect(toHex(all.subarray(3, 3))).toBe('');
    // A Buffer from Node's shared pool is a view too.
    const pooled = Buffer.from([0x12, 0x34]);
    expect(toHex(pooled)).toBe('1234');
  });
});

describe('fromHex', () => {
  it('reads hex of either case into a Uint8Array of its own', () => {
    const b = fromHex('00ffABcd');
    expect(Array.from(b)).toEqual([0, 0xff, 0xab, 0xcd]);
    expect(Buffer.isBuffer(b)).toBe(false);
    expect(b.byteOffset).toBe(0);
    expect(b.buffer.byteLength).toBe(4); // not a view of Node's buffer pool
    expect(fromHex('')).toEqual(new Uint8Array(0));
  });

  it('refuses odd lengths and non-hex characters with a RangeError', () => {
    for (const bad of ['a', 'abc', 'zz', '0g', ' 00', '00 ', '0x00', '-1', '+1', 'é0', '\u0660\u0661']) {
      expect(() => fromHex(bad), JSON.stringify(bad)).toThrow(RangeError);
    }
    expect(() => fromHex('abc')).toThrow(/not a hex string: "abc"/);
    // The message quotes at most 80 characters of a long input.
    const long = 'q'.repeat(1000);
    expect(() => fromHex(long)).toThrow(`not a hex string: "${'q'.repeat(80)}"`);
  });
});

describe('equalBytes', () => {
  it('compares lengths and contents', () => {
    const a = new Uint8Array([1, 2, 3]);
    expect(equalBytes(a, new Uint8Array([1, 2, 3]))).toBe(true);
    expect(equalBytes(a, new Uint8Array([1, 2, 4]))).toBe(false);
    expect(equalBytes(a, new Uint8Array([1, 2]))).toBe(false);
    expect(equalBytes(new Uint8Array([1, 2]), a)).toBe(false);
    expect(equalBytes(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  it('compares views by their bytes, wherever they sit', () => {
    const buf = new Uint8Array([9, 1, 2, 3, 9, 1, 2, 3]);
    expect(equalBytes(buf.subarray(1, 4), buf.subarray(5, 8))).toBe(true);
    expect(equalBytes(buf.subarray(0, 4), buf.subarray(4, 8))).toBe(true);
    expect(equalBytes(buf.subarray(0, 3), buf.subarray(1, 4))).toBe(false);
    expect(equalBytes(Buffer.from([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
  });
});

describe('bytes properties', () => {
  it('round-trips bytes through hex, and hex through bytes (lowercased)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), fc.nat(), (bytes, x, y) => {
        const [start, end] = [x % (bytes.length + 1), y % (bytes.length + 1)].sort((p, q) => p - q);
        const view = bytes.subarray(start, end);
        const hex = toHex(view);
        expect(hex).toMatch(/^[0-9a-f]*$/);
        expect(hex).toHaveLength(2 * view.length);
        const back = fromHex(hex);
        expect(equalBytes(back, view)).toBe(true);
        expect(Array.from(back)).toEqual(Array.from(view));
        expect(toHex(fromHex(hex.toUpperCase()))).toBe(hex);
      }),
      propertyOptions,
    );
  });

  it('equalBytes agrees with comparing the bytes one by one', () => {
    const small = fc.uint8Array({ maxLength: 4, max: 2 });
    fc.assert(
      fc.property(small, small, (a, b) => {
        expect(equalBytes(a, b)).toBe(toHex(a) === toHex(b));
        expect(equalBytes(a, b)).toBe(equalBytes(b, a));
      }),
      propertyOptions,
    );
  });
});
