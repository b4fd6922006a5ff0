/** BEP 6 allowed-fast sets (src/protocol/allowed-fast.ts) against the BEP's published example. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allowedFastSeed, allowedFastSet } from '../../src/protocol/allowed-fast.js';
import { propertyOptions } from '../support/fc.js';

const INFO_HASH = new Uint8Array(20).fill(0xaa);

describe('allowedFastSet', () => {
  // BEP 6's example is for 80.4.4.200 (masked 80.4.4.0); 1.2.3.4 gives 1280, 610, 900, … (checked by hand).
  it("gives BEP 6's example: 80.4.4.200, info hash 0xaa × 20, 1313 pieces, k = 7", () => {
    expect(allowedFastSet('80.4.4.200', INFO_HASH, 1313, 7)).toEqual([1059, 431, 808, 1217, 287, 376, 1188]);
  });

  it('and with k = 9 adds 353 and 508', () => {
    expect(allowedFastSet('80.4.4.200', INFO_HASH, 1313, 9)).toEqual([1059, 431, 808, 1217, 287, 376, 1188, 353, 508]);
  });

  it('gives every address of a /24 the same set (and an IPv4-mapped address that of its IPv4 one)', () => {
    const set = allowedFastSet('80.4.4.0', INFO_HASH, 1313, 7);
    expect(set).toEqual([1059, 431, 808, 1217, 287, 376, 1188]);
    expect(allowedFastSet('80.4.4.255', INFO_HASH, 1313, 7)).toEqual(set);
    expect(allowedFastSet('::ffff:80.4.4.77', INFO_HASH, 1313, 7)).toEqual(set);
    expect(allowedFastSet('80.4.5.200', INFO_HASH, 1313, 7)).not.toEqual(set);
  });

  it('seeds IPv6 with its /48', () => {
    expect(allowedFastSeed('2001:db8:1:2::1')).toEqual(Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 1));
    const a = allowedFastSet('2001:db8:1:2::1', INFO_HASH, 1313, 10);
    expect(allowedFastSet('2001:db8:1:ffff::9', INFO_HASH, 1313, 10)).toEqual(a);
    expect(a).toHaveLength(10);
  });

  it('allows every piece of a torrent with no more than k pieces; nothing for no IP, no pieces, k ≤ 0', () => {
    expect(allowedFastSet('1.2.3.4', INFO_HASH, 4, 10)).toEqual([0, 1, 2, 3]);
    expect(allowedFastSet('example.org', INFO_HASH, 1313, 7)).toEqual([]);
    expect(allowedFastSet('1.2.3.4', INFO_HASH, 0, 7)).toEqual([]);
    expect(allowedFastSet('1.2.3.4', INFO_HASH, 1313, 0)).toEqual([]);
  });

  it('always gives min(k, pieces) distinct pieces of the torrent', () => {
    fc.assert(
      fc.property(
        fc.ipV4(),
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 12 }),
        (ip, hash, pieces, k) => {
          const set = allowedFastSet(ip, hash, pieces, k);
          expect(set).toHaveLength(Math.min(k, pieces));
          expect(new Set(set).size).toBe(set.length);
          for (const i of set) expect(i >= 0 && i < pieces).toBe(true);
        },
      ),
      { ...propertyOptions, numRuns: Math.min(propertyOptions.numRuns, 2000) },
    );
  });
});
