/**
 * Piece verification of BEP 52 torrents (src/protocol/piece-verify.ts) on generated layouts: any number
 * of files of any size (empty ones, ones shorter than a block, ones of many pieces with a short tail),
 * any v2 piece length, v2-only or hybrid, multi- or single-file. Every piece of the true data verifies,
 * and a byte flipped anywhere in a file's data fails exactly the piece that holds it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { pieceVerifier } from '../../src/protocol/piece-verify.js';
import { propertyOptions } from '../support/fc.js';
import { pattern, pieceSpace, v2Torrent, type V2File } from '../support/v2-torrent.js';

const layoutArb = fc
  .record({
    lengths: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20_000 })), { minLength: 1, maxLength: 3 }),
    pieceLength: fc.constantFrom(16384, 32768, 65536),
    version: fc.constantFrom('v2' as const, 'hybrid' as const),
    single: fc.boolean(),
    seed: fc.nat(),
    flip: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  })
  .filter((l) => l.lengths.some((n) => n > 0))
  .map((l) => (l.single ? { ...l, lengths: [Math.max(1, l.lengths[0]!)] } : l));

describe('pieceVerifier on generated BEP 52 torrents', () => {
  it('every piece of the data verifies; a flipped data byte fails exactly its piece', () => {
    fc.assert(
      fc.property(layoutArb, ({ lengths, pieceLength, version, single, seed, flip }) => {
        // Names in file-tree order (sorted), as a hybrid's v1 list must be.
        const files: V2File[] = lengths.map((n, i) => ({ path: [`f${i}`], data: pattern(n, seed + i) }));
        const meta = parseMetainfo(v2Torrent(files, { version, pieceLength, multiFile: !single }), {
          pathRules: 'posix',
        });
        const space = pieceSpace(meta, files);
        const piece = (i: number, bytes: Uint8Array) =>
          bytes.subarray(i * pieceLength, Math.min(meta.length, (i + 1) * pieceLength));
        const verify = pieceVerifier(meta);
        for (let i = 0; i < meta.pieceCount; i++) expect(verify(i, piece(i, space))).toBe(true);
        // A byte of some file's data (not padding), chosen by `flip`.
        const dataBytes = meta.files.filter((f) => !f.padding).flatMap((f) => (f.length > 0 ? [f] : []));
        const total = dataBytes.reduce((n, f) => n + f.length, 0);
        let k = Math.floor(flip * total);
        const file = dataBytes.find((f) => (k < f.length ? true : ((k -= f.length), false)))!;
        const at = file.offset + k;
        const bad = Uint8Array.from(space);
        bad[at] = bad[at]! ^ 0x80;
        const hit = Math.floor(at / pieceLength);
        expect(verify(hit, piece(hit, bad))).toBe(false);
        for (let i = 0; i < meta.pieceCount; i++) if (i !== hit) expect(verify(i, piece(i, bad))).toBe(true);
      }),
      propertyOptions,
    );
  });
});
