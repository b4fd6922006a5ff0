/**
 * Properties of the BEP 10 extension handshake codec (src/protocol/extension-handshake.ts):
 * - decode(encode(h)) is h for every handshake the codec can carry, and re-encoding gives the same bytes;
 * - random bytes, and valid encodings mutated or truncated, decode to a bounded handshake or fail with
 *   a BtError `BT_ERR_EXT_HANDSHAKE`, never another exception;
 * - at most MAX_EXTENSIONS names are kept, reqq is clamped to MAX_REQQ, unknown keys are ignored.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_EXTENSIONS,
  MAX_NAME_BYTES,
  MAX_REQQ,
  decodeExtensionHandshake,
  encodeExtensionHandshake,
  type ExtensionHandshake,
} from '../../src/protocol/extension-handshake.js';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { isBtError } from '../../src/protocol/errors.js';
import { propertyOptions } from '../support/fc.js';
import { applyEdit, byteEdit } from '../support/byte-edits.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries

const RESERVED = new Set(['m', 'reqq', 'v', 'p', 'metadata_size']);
const byteLength = (s: string): number => Buffer.byteLength(s);

/**
 * A name the codec carries as it is: at most MAX_NAME_BYTES of UTF-8, no U+FFFD (the bencode package
 * turns a key holding one into hex), not `__proto__` (refused by the decoder).
 */
const nameArb = fc
  .oneof(
    fc.constantFrom(
      'ut_metadata',
      'ut_pex',
      'lt_donthave',
      'upload_only',
      'ut_holepunch',
      '',
      'x'.repeat(MAX_NAME_BYTES),
    ),
    fc.string({ unit: 'binary', maxLength: 24 }),
    fc.string({ unit: 'grapheme-ascii', maxLength: MAX_NAME_BYTES }),
  )
  .filter((s) => byteLength(s) <= MAX_NAME_BYTES && !s.includes('\uFFFD') && s !== '__proto__');

/** Client strings: any valid UTF-8 of at most MAX_NAME_BYTES (U+FFFD is fine in a value). */
const clientArb = fc
  .oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('bt-actor', 'qBittorrent/4.6.2', 'µTorrent 3.5'))
  .filter((s) => byteLength(s) <= MAX_NAME_BYTES);

const mArb = (maxNames: number): fc.Arbitrary<Record<string, number>> =>
  fc
    .uniqueArray(fc.tuple(nameArb, fc.integer({ min: 1, max: 255 })), {
      selector: ([name]) => name,
      maxLength: maxNames,
    })
    .map((entries) => Object.fromEntries(entries));

const handshakeArb: fc.Arbitrary<ExtensionHandshake> = fc.record(
  {
    m: mArb(MAX_EXTENSIONS),
    reqq: fc.integer({ min: 1, max: MAX_REQQ }),
    client: clientArb,
    port: fc.integer({ min: 1, max: 65535 }),
    metadataSize: fc.oneof(fc.integer({ min: 1, max: 1 << 24 }), fc.constant(Number.MAX_SAFE_INTEGER)),
  },
  { requiredKeys: ['m'] },
);

/** Bencode values at most `depth` levels deep (1: a leaf). */
const valueArb = (depth: number): fc.Arbitrary<unknown> => {
  const leaf = fc.oneof(
    fc.integer({ min: -1000, max: 70_000 }),
    fc.constantFrom(0, -1, 256, 65_536, MAX_REQQ, MAX_REQQ + 1, Number.MAX_SAFE_INTEGER),
    fc.uint8Array({ maxLength: 80 }),
  );
  if (depth <= 1) return leaf;
  const inner = valueArb(depth - 1);
  return fc.oneof(
    { weight: 3, arbitrary: leaf },
    { weight: 1, arbitrary: fc.array(inner, { maxLength: 4 }) },
    {
      weight: 1,
      arbitrary: fc
        .uniqueArray(fc.tuple(fc.string({ unit: 'grapheme-ascii', maxLength: 6 }), inner), {
          selector: ([k]) => k,
          maxLength: 4,
        })
        .map((entries) => Object.fromEntries(entries.filter(([k]) => k !== '__proto__'))),
    },
  );
};

/** Keys BEP 10 does not define here, with any value (a handshake dictionary allows 3 more levels). */
const extraArb = fc
  .uniqueArray(fc.tuple(fc.string({ unit: 'grapheme-ascii', maxLength: 12 }), valueArb(3)), {
    selector: ([k]) => k,
    maxLength: 5,
  })
  .map((entries) => entries.filter(([k]) => !RESERVED.has(k) && k !== '__proto__'));

const editArb = byteEdit([0x30, 0x39, 0x3a, 0x64, 0x65, 0x69, 0x6c, 0x2d, 0xff]);

// ---------------------------------------------------------------------------------------------
// Checks

const utf8 = new TextEncoder();

/** Everything a decoded handshake promises, whatever the input was. */
function expectBounded(h: ExtensionHandshake): void {
  const names = Object.keys(h.m);
  const ok =
    names.length <= MAX_EXTENSIONS &&
    names.every(
      (n) => utf8.encode(n).length <= MAX_NAME_BYTES && Number.isInteger(h.m[n]) && h.m[n]! >= 1 && h.m[n]! <= 255,
    ) &&
    (h.reqq === undefined || (Number.isSafeInteger(h.reqq) && h.reqq >= 1 && h.reqq <= MAX_REQQ)) &&
    (h.client === undefined || (typeof h.client === 'string' && utf8.encode(h.client).length <= MAX_NAME_BYTES)) &&
    (h.port === undefined || (Number.isInteger(h.port) && h.port >= 1 && h.port <= 65535)) &&
    (h.metadataSize === undefined || (Number.isSafeInteger(h.metadataSize) && h.metadataSize >= 1)) &&
    Object.keys(h).every((k) => ['m', 'reqq', 'client', 'port', 'metadataSize'].includes(k));
  if (!ok) expect(h).toBe('a bounded handshake');
}

/** Decodes, requiring a bounded handshake or a BT_ERR_EXT_HANDSHAKE BtError. */
function decodeOrRefuse(bytes: Uint8Array): ExtensionHandshake | 'refused' {
  let h: ExtensionHandshake;
  try {
    h = decodeExtensionHandshake(bytes);
  } catch (err) {
    if (!isBtError(err, 'BT_ERR_EXT_HANDSHAKE')) throw err;
    return 'refused';
  }
  expectBounded(h);
  return h;
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

// ---------------------------------------------------------------------------------------------
// Properties

describe('extension handshake properties', () => {
  it('round-trips every handshake it can carry, byte for byte', () => {
    fc.assert(
      fc.property(handshakeArb, (h) => {
        const bytes = encodeExtensionHandshake(h);
        const back = decodeExtensionHandshake(bytes);
        expect(back).toEqual(h);
        expectBounded(back);
        const again = encodeExtensionHandshake(back);
        if (!equalBytes(again, bytes))
          expect(Buffer.from(again).toString('latin1')).toBe(Buffer.from(bytes).toString('latin1'));
      }),
      propertyOptions,
    );
  });

  it('turns random bytes into a handshake or a BT_ERR_EXT_HANDSHAKE, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodeOrRefuse(bytes);
      }),
      propertyOptions,
    );
  });

  it('turns mutated and truncated encodings into a handshake or a BT_ERR_EXT_HANDSHAKE', () => {
    fc.assert(
      fc.property(handshakeArb, extraArb, fc.array(editArb, { minLength: 1, maxLength: 4 }), (h, extra, edits) => {
        const dict = { ...Object.fromEntries(extra), ...wireKeys(h) };
        let bytes = encodeBencode({ ...dict, m: h.m });
        for (const e of edits) bytes = applyEdit(bytes, e);
        decodeOrRefuse(bytes);
      }),
      propertyOptions,
    );
  });

  it('decodes hostile dictionaries to a bounded handshake or refuses them for a bad m', () => {
    const anyM = fc.oneof(
      { weight: 1, arbitrary: valueArb(1) },
      {
        weight: 4,
        arbitrary: fc
          .uniqueArray(fc.tuple(fc.oneof(nameArb, fc.string({ maxLength: 70 })), valueArb(2)), {
            selector: ([k]) => k,
            maxLength: 80,
          })
          .map((entries) => Object.fromEntries(entries.filter(([k]) => k !== '__proto__'))),
      },
    );
    const hostileArb = fc.record(
      { m: anyM, reqq: valueArb(2), v: valueArb(2), p: valueArb(2), metadata_size: valueArb(2) },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(hostileArb, extraArb, (hostile, extra) => {
        const input = { ...Object.fromEntries(extra), ...hostile };
        const h = decodeOrRefuse(encodeBencode(input));
        const m = hostile.m;
        const mIsDict = m !== undefined && typeof m === 'object' && !Array.isArray(m) && !(m instanceof Uint8Array);
        const ids = mIsDict ? Object.values(m as Record<string, unknown>) : [];
        const validIds = ids.every((id) => typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 255);
        if (h === 'refused') {
          // Only a bad m is refused.
          expect(m !== undefined && (!mIsDict || !validIds)).toBe(true);
          return;
        }
        expect(m === undefined || mIsDict).toBe(true);
        // Every name kept is one of the input's, with its id; none with id 0, none too long.
        const source = (mIsDict ? m : {}) as Record<string, number>;
        for (const [name, id] of Object.entries(h.m)) {
          if (source[name] !== id || id === 0 || byteLength(name) > MAX_NAME_BYTES) expect({ name, id }).toBe('kept');
        }
        if (validIds) {
          const eligible = Object.entries(source).filter(
            ([name, id]) => id !== 0 && byteLength(name) <= MAX_NAME_BYTES,
          );
          expect(Object.keys(h.m)).toHaveLength(Math.min(MAX_EXTENSIONS, eligible.length));
        }
        // The optional facts: kept when they are what they should be, reqq clamped.
        const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
        expect(h.reqq).toBe(count(hostile.reqq) ? Math.min(hostile.reqq, MAX_REQQ) : undefined);
        expect(h.port).toBe(count(hostile.p) && hostile.p <= 65535 ? hostile.p : undefined);
        expect(h.metadataSize).toBe(count(hostile.metadata_size) ? hostile.metadata_size : undefined);
        const v = hostile.v;
        const client = v instanceof Uint8Array && v.length <= MAX_NAME_BYTES ? strictUtf8(v) : undefined;
        expect(h.client).toBe(client);
      }),
      propertyOptions,
    );
  });

  it('keeps at most MAX_EXTENSIONS names, however many the peer sends', () => {
    // Up to 100 names: some disabled (id 0) and some too long, which do not count.
    const idsArb = fc.integer({ min: 0, max: 100 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
    fc.assert(
      fc.property(idsArb, fc.integer({ min: 0, max: 50 }), (ids, zeroes) => {
        const input: Record<string, number> = {};
        ids.forEach((id, i) => {
          const long = i % 3 === 0 && id % 2 === 1;
          input[long ? `${'x'.repeat(MAX_NAME_BYTES)}${i}` : `ext_${i}`] = i < zeroes ? 0 : id;
        });
        const h = decodeExtensionHandshake(encodeBencode({ m: input }));
        const eligible = Object.keys(input).filter((k) => input[k] !== 0 && byteLength(k) <= MAX_NAME_BYTES);
        expect(Object.keys(h.m)).toHaveLength(Math.min(MAX_EXTENSIONS, eligible.length));
        for (const [name, id] of Object.entries(h.m))
          if (input[name] !== id || id === 0) expect({ name, id }).toBe('kept');
      }),
      propertyOptions,
    );
  });

  it('refuses every strict prefix of an encoding, and an encoding with bytes after it', () => {
    fc.assert(
      fc.property(
        handshakeArb,
        extraArb,
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 8 }),
        (h, extra, cut, tail) => {
          const bytes = encodeBencode({ ...Object.fromEntries(extra), ...wireKeys(h), m: h.m });
          expect(decodeOrRefuse(bytes)).not.toBe('refused');
          expect(decodeOrRefuse(bytes.subarray(0, cut % bytes.length))).toBe('refused');
          expect(decodeOrRefuse(Uint8Array.from([...bytes, ...tail]))).toBe('refused');
        },
      ),
      propertyOptions,
    );
  });

  it('clamps reqq to MAX_REQQ and ignores one that is not a positive safe integer', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.integer({ min: 1, max: 4 * MAX_REQQ }), fc.maxSafeInteger()), (reqq) => {
        const h = decodeExtensionHandshake(encodeBencode({ m: {}, reqq }));
        expect(h.reqq).toBe(reqq > 0 ? Math.min(reqq, MAX_REQQ) : undefined);
      }),
      propertyOptions,
    );
  });

  it('ignores unknown keys', () => {
    fc.assert(
      fc.property(handshakeArb, extraArb, (h, extra) => {
        const plain = encodeExtensionHandshake(h);
        const withExtra = encodeBencode({ ...Object.fromEntries(extra), ...wireKeys(h), m: h.m });
        expect(decodeExtensionHandshake(withExtra)).toEqual(decodeExtensionHandshake(plain));
      }),
      propertyOptions,
    );
  });
});

/** The handshake's optional fields under their wire keys. */
function wireKeys(h: ExtensionHandshake): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (h.reqq !== undefined) out.reqq = h.reqq;
  if (h.client !== undefined) out.v = h.client;
  if (h.port !== undefined) out.p = h.port;
  if (h.metadataSize !== undefined) out.metadata_size = h.metadataSize;
  return out;
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}
