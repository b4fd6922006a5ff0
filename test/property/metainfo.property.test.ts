import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { MetainfoError, foldPath, parseMetainfo } from '../../src/protocol/metainfo.js';
import { sanitizeElement } from '../../src/protocol/sanitize-path.js';
import { encodeTorrent, type TorrentSpec } from '../../src/protocol/metainfo-encode.js';
import { propertyOptions } from '../support/fc.js';

// Path elements a torrent may hold as they are: any text the sanitizer leaves unchanged (non-ASCII
// included; see sanitize-path.property.test.ts for the others).
const element = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 8 })
  .filter((s) => Buffer.from(s).toString() === s && sanitizeElement(s, 'posix').value === s);

const spec: fc.Arbitrary<TorrentSpec> = fc
  .record({
    name: element,
    multiFile: fc.boolean(),
    files: fc.uniqueArray(
      fc.record({ path: fc.array(element, { minLength: 1, maxLength: 3 }), length: fc.nat({ max: 100_000 }) }),
      {
        minLength: 1,
        maxLength: 6,
        selector: (f) => foldPath(f.path[0]!), // distinct first elements: no duplicates, no file-vs-folder clash
      },
    ),
    pieceLength: fc.constantFrom(16384, 32768, 65536, 1 << 20, 12345),
    announce: fc.array(fc.array(fc.webUrl(), { minLength: 1, maxLength: 2 }), { maxLength: 3 }),
    private: fc.boolean(),
  })
  .map((s) => {
    const files = s.multiFile ? s.files : [{ path: [s.name], length: s.files[0]!.length }];
    const total = files.reduce((a, f) => a + f.length, 0) || 1;
    if (total === 1 && files.every((f) => f.length === 0)) files[0]!.length = 1;
    const count = Math.ceil(total / s.pieceLength);
    return { ...s, files, pieces: new Uint8Array(20 * count).map((_, i) => (i * 7) & 255) };
  });

describe('metainfo properties', () => {
  it('parse(encodeTorrent(spec)) gives back the spec', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const m = parseMetainfo(encodeTorrent(s), { pathRules: 'posix' });
        expect(m.name).toBe(s.name);
        expect(m.pathChanges).toEqual([]);
        expect(m.multiFile).toBe(s.multiFile);
        expect(m.files.map((f) => f.path)).toEqual(s.multiFile ? s.files.map((f) => f.path) : [[s.name]]);
        expect(m.files.map((f) => f.length)).toEqual(s.files.map((f) => f.length));
        expect(m.pieceLength).toBe(s.pieceLength);
        expect(m.pieces).toEqual(s.pieces);
        expect(m.private).toBe(s.private);
        const urls = (s.announce ?? []).flat();
        expect(m.announce.flat()).toEqual(urls.filter((u, i) => urls.indexOf(u) === i));
      }),
      propertyOptions,
    );
  });

  it('the info hash is the SHA-1 of the raw info bytes, whatever the key order and extra keys', () => {
    const extra = fc.dictionary(
      fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 6 }).map((k) => `x-${k}`),
      fc.oneof(fc.nat(), fc.string()),
      { maxKeys: 3 },
    );
    fc.assert(
      fc.property(spec, extra, fc.infiniteStream(fc.double()), (s, more, rand) => {
        const canonical = parseMetainfo(encodeTorrent(s));
        const entries = Object.entries({
          name: s.name,
          'piece length': s.pieceLength,
          pieces: s.pieces,
          ...(s.multiFile ? { files: s.files } : { length: s.files[0]!.length }),
          ...more,
        });
        const it = rand[Symbol.iterator]();
        entries.sort(() => (it.next().value as number) - 0.5);
        const info = Buffer.concat([
          Buffer.from('d'),
          ...entries.map(([k, v]) => Buffer.concat([encodeBencode(k), encodeBencode(v)])),
          Buffer.from('e'),
        ]);
        const file = Buffer.concat([Buffer.from('d4:info'), info, Buffer.from('e')]);
        const m = parseMetainfo(file);
        expect(m.infoHashHex).toBe(createHash('sha1').update(info).digest('hex'));
        if (Object.keys(more).length === 0 && Buffer.from(info).equals(Buffer.from(canonical.infoBytes))) {
          expect(m.infoHashHex).toBe(canonical.infoHashHex);
        }
      }),
      propertyOptions,
    );
  });

  it('mutated and truncated torrents give a Metainfo or a MetainfoError, nothing else', () => {
    fc.assert(
      fc.property(
        spec,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (s, edits, cut) => {
          const bytes = Uint8Array.from(encodeTorrent(s));
          for (const [at, b] of edits) bytes[at % bytes.length] = b;
          for (const input of [bytes, bytes.subarray(0, cut % (bytes.length + 1))]) {
            try {
              const m = parseMetainfo(input);
              expect(m.infoHashHex).toMatch(/^[0-9a-f]{40}$/);
              for (const f of m.files)
                for (const p of f.path) expect(p === '..' || p.includes('/') || p.includes('\0')).toBe(false);
            } catch (err) {
              expect(err).toBeInstanceOf(MetainfoError);
            }
          }
        },
      ),
      propertyOptions,
    );
  });

  it('random bytes give a MetainfoError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(() => parseMetainfo(bytes)).toThrow(MetainfoError);
      }),
      propertyOptions,
    );
  });
});
