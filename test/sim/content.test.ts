// The simulator's content: a pure function of its seed, kept whole when small, generated per read when
// large; both give the same bytes, and `bytes` is the caller's own copy.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Content } from '../../src/sim/storage.js';

describe('sim Content', () => {
  const LENGTH = 300_001; // not a multiple of 4: the last word is cut

  it('gives the same bytes kept whole as generated per read, at any offset', () => {
    const kept = new Content(7, LENGTH);
    const generated = new Content(7, LENGTH, 0);
    fc.assert(
      fc.property(fc.nat(LENGTH), fc.nat(70_000), (start, length) => {
        const a = kept.view(start, length);
        const b = generated.view(start, length);
        expect(a.length).toBe(Math.max(0, Math.min(LENGTH, start + length) - start));
        expect(Buffer.compare(a, b)).toBe(0);
        expect(Buffer.compare(kept.bytes(start, length), a)).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('depends on the seed', () => {
    expect(Buffer.compare(new Content(1, 4096).view(0, 4096), new Content(2, 4096).view(0, 4096))).not.toBe(0);
  });

  it('bytes() is a copy: changing it changes no later read', () => {
    const c = new Content(3, 65_536);
    const before = Buffer.from(c.view(1000, 64));
    const mine = c.bytes(1000, 64);
    mine.fill(0);
    expect(Buffer.compare(c.view(1000, 64), before)).toBe(0);
    expect(Buffer.compare(c.bytes(1000, 64), before)).toBe(0);
  });
});
