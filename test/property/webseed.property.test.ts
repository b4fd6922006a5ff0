// BEP 19 web seed ranges (src/protocol/webseed.ts): for any layout and any span of it, the ranges
// cover the span exactly, in order, each inside its file, none empty; URLs per BEP 19.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BtError } from '../../src/protocol/errors.js';
import {
  MAX_WEB_SEEDS,
  usableWebSeeds,
  webSeedFileUrl,
  webSeedRanges,
  type WebSeedLayout,
} from '../../src/protocol/webseed.js';
import { propertyOptions } from '../support/fc.js';

const layoutArb: fc.Arbitrary<WebSeedLayout> = fc
  .array(
    fc.record({
      path: fc.array(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 }),
      length: fc.nat({ max: 5000 }),
      padding: fc.boolean(),
    }),
    { minLength: 1, maxLength: 8 },
  )
  .filter((files) => files.some((f) => f.length > 0))
  .chain((files) =>
    fc.record({
      name: fc.string({ minLength: 1, maxLength: 6 }),
      multiFile: fc.constant(files.length > 1),
      files: fc.constant(files),
    }),
  );

describe('web seed ranges', () => {
  it('cover any span exactly, in order, each inside its file', () => {
    fc.assert(
      fc.property(
        layoutArb.chain((layout) => {
          const total = layout.files.reduce((n, f) => n + f.length, 0);
          return fc.tuple(
            fc.constant(layout),
            fc
              .nat({ max: total - 1 })
              .chain((offset) => fc.tuple(fc.constant(offset), fc.integer({ min: 1, max: total - offset }))),
          );
        }),
        ([layout, [offset, length]]) => {
          const ranges = webSeedRanges('http://h/base', layout, offset, length);
          expect(ranges.reduce((n, r) => n + r.length, 0)).toBe(length);
          // Walk the files: each range is the next piece of the span.
          let at = offset;
          let fileStart = 0;
          let k = 0;
          for (let i = 0; i < layout.files.length; i++) {
            const f = layout.files[i]!;
            if (at < fileStart + f.length && at >= fileStart && k < ranges.length) {
              const r = ranges[k++]!;
              expect(r.start).toBe(at - fileStart);
              expect(r.length).toBeGreaterThan(0);
              expect(r.start + r.length).toBeLessThanOrEqual(f.length);
              expect(r.padding).toBe(f.padding);
              expect(r.url).toBe(f.padding ? '' : webSeedFileUrl('http://h/base', layout, i));
              at += r.length;
            }
            fileStart += f.length;
          }
          expect(k).toBe(ranges.length);
          expect(at).toBe(offset + length);
        },
      ),
      propertyOptions,
    );
  });

  it('refuse a span outside the files with BT_ERR_WEBSEED_RANGE', () => {
    fc.assert(
      fc.property(
        layoutArb,
        fc.integer({ min: -5, max: 20_000 }),
        fc.integer({ min: -5, max: 20_000 }),
        (layout, offset, length) => {
          const total = layout.files.reduce((n, f) => n + f.length, 0);
          const valid = offset >= 0 && length > 0 && offset + length <= total;
          try {
            webSeedRanges('http://h/', layout, offset, length);
            expect(valid).toBe(true);
          } catch (err) {
            expect(valid).toBe(false);
            expect(err).toBeInstanceOf(BtError);
            expect((err as BtError).code).toBe('BT_ERR_WEBSEED_RANGE');
          }
        },
      ),
      propertyOptions,
    );
  });

  it('URLs as BEP 19 builds them', () => {
    const single: WebSeedLayout = {
      name: 'a b.iso',
      multiFile: false,
      files: [{ path: ['a b.iso'], length: 9, padding: false }],
    };
    expect(webSeedFileUrl('http://h/x.iso', single, 0)).toBe('http://h/x.iso');
    expect(webSeedFileUrl('http://h/pub/', single, 0)).toBe('http://h/pub/a%20b.iso');
    const multi: WebSeedLayout = {
      name: 'set',
      multiFile: true,
      files: [{ path: ['d?', '#1'], length: 3, padding: false }],
    };
    expect(webSeedFileUrl('http://h/pub', multi, 0)).toBe('http://h/pub/set/d%3F/%231');
    expect(webSeedFileUrl('http://h/pub/', multi, 0)).toBe('http://h/pub/set/d%3F/%231');
  });

  it('uses http(s) URLs only, each once, at most MAX_WEB_SEEDS', () => {
    expect(usableWebSeeds(['ftp://h/x', 'http://h/x', 'http://h/x', 'https://h/y', 'h/z', 'http:///x'])).toEqual([
      'http://h/x',
      'https://h/y',
    ]);
    const many = Array.from({ length: 20 }, (_, i) => `http://h/${i}`);
    expect(usableWebSeeds(many)).toHaveLength(MAX_WEB_SEEDS);
  });
});
