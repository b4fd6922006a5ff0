import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BencodeError,
  decodeBencode,
  encodeBencode,
  scanBencode,
  type BencodeValue,
} from '../../src/protocol/bencode.js';
import { propertyOptions } from '../support/fc.js';

const bytes = fc.uint8Array({ maxLength: 24 });
const value: fc.Arbitrary<BencodeValue> = fc.letrec<{ v: BencodeValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.maxSafeInteger(),
    bytes,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: 'grapheme-ascii', maxLength: 6 }), tie('v'), { maxKeys: 4 }),
  ),
})).v;

describe('bencode properties', () => {
  it('decode(encode(v)) equals v, and re-encoding gives back the same bytes', () => {
    fc.assert(
      fc.property(value, (v) => {
        const enc = encodeBencode(v);
        const { value: dec, scan } = decodeBencode(enc);
        expect(dec).toEqual(v);
        expect(scan.canonical).toBe(true);
        expect(Buffer.from(encodeBencode(dec)).equals(Buffer.from(enc))).toBe(true);
      }),
      propertyOptions,
    );
  });

  it('reports the exact span of every top-level dictionary value', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'grapheme-ascii', maxLength: 6 }), value, { maxKeys: 5 }), (dict) => {
        const enc = encodeBencode(dict);
        const { topLevelSpans } = scanBencode(enc);
        expect([...topLevelSpans.keys()].sort()).toEqual(Object.keys(dict).sort());
        for (const [k, span] of topLevelSpans) {
          expect(Buffer.from(enc.subarray(span.start, span.end)).equals(Buffer.from(encodeBencode(dict[k])))).toBe(
            true,
          );
        }
      }),
      propertyOptions,
    );
  });

  it('random bytes give a value or a BencodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (buf) => {
        try {
          decodeBencode(buf);
        } catch (err) {
          expect(err).toBeInstanceOf(BencodeError);
        }
      }),
      propertyOptions,
    );
  });

  it('mutated and truncated encodings give a value or a BencodeError, nothing else', () => {
    fc.assert(
      fc.property(value, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (v, at, byte, cut) => {
        const enc = Uint8Array.from(encodeBencode(v));
        enc[at % enc.length] = byte;
        for (const input of [enc, enc.subarray(0, cut % (enc.length + 1))]) {
          try {
            decodeBencode(input);
          } catch (err) {
            expect(err).toBeInstanceOf(BencodeError);
          }
        }
      }),
      propertyOptions,
    );
  });
});

describe('bencode strictness', () => {
  const bad: [string, string][] = [
    ['', 'BT_ERR_BENCODE_EMPTY'],
    ['i01e', 'BT_ERR_BENCODE_SYNTAX'],
    ['i-0e', 'BT_ERR_BENCODE_SYNTAX'],
    ['ie', 'BT_ERR_BENCODE_SYNTAX'],
    ['i12', 'BT_ERR_BENCODE_TRUNCATED'],
    ['5:abc', 'BT_ERR_BENCODE_TRUNCATED'],
    ['05:abcde', 'BT_ERR_BENCODE_SYNTAX'],
    ['d3:fooe', 'BT_ERR_BENCODE_SYNTAX'],
    ['d3:foo', 'BT_ERR_BENCODE_TRUNCATED'],
    ['di1e3:fooe', 'BT_ERR_BENCODE_SYNTAX'],
    ['l', 'BT_ERR_BENCODE_TRUNCATED'],
    ['i1ei2e', 'BT_ERR_BENCODE_TRAILING'],
    ['x', 'BT_ERR_BENCODE_SYNTAX'],
    ['99999999999999999999:', 'BT_ERR_BENCODE_TRUNCATED'],
  ];
  it.each(bad)('%j is refused with %s', (input, code) => {
    expect(() => decodeBencode(Buffer.from(input))).toThrow(expect.objectContaining({ code }));
  });

  it('refuses hostile nesting without overflowing the stack', () => {
    const deep = Buffer.from('l'.repeat(100_000) + 'e'.repeat(100_000));
    expect(() => decodeBencode(deep)).toThrow(expect.objectContaining({ code: 'BT_ERR_BENCODE_TOO_DEEP' }));
  });

  it('accepts and flags non-canonical key order', () => {
    const { value, scan } = decodeBencode(Buffer.from('d1:bi1e1:ai2ee'));
    expect(value).toEqual({ a: 2, b: 1 });
    expect(scan.canonical).toBe(false);
  });

  it('refuses a __proto__ key (the package decoder would turn it into a prototype)', () => {
    expect(() => decodeBencode(Buffer.from('d9:__proto__d1:xi1eee'))).toThrow(
      expect.objectContaining({ code: 'BT_ERR_BENCODE_UNSAFE_KEY' }),
    );
    expect(() => decodeBencode(Buffer.from('d1:ad9:__proto__i1eee'))).toThrow(
      expect.objectContaining({ code: 'BT_ERR_BENCODE_UNSAFE_KEY' }),
    );
  });

  it('refuses a key that appears twice, at any level', () => {
    for (const input of ['d1:ai1e1:ai2ee', 'd1:bi1e1:ai2e1:bi3ee', 'ld1:xi1e1:xi1eee', 'd1:ad1:ki1e1:ki2eee']) {
      expect(() => decodeBencode(Buffer.from(input)), input).toThrow(
        expect.objectContaining({ code: 'BT_ERR_BENCODE_DUPLICATE_KEY' }),
      );
    }
  });

  it('refuses twin keys that the decoder would read as one: a BOM before the key, invalid UTF-8 against its hex', () => {
    const bom = Buffer.concat([Buffer.from('d4:infoi1e7:'), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('infoi2ee')]);
    expect(() => decodeBencode(bom)).toThrow(expect.objectContaining({ code: 'BT_ERR_BENCODE_DUPLICATE_KEY' }));
    // 0xff is not UTF-8: the package names that key "ff", like the key "ff" itself.
    const hex = Buffer.concat([Buffer.from('d1:'), Buffer.from([0xff]), Buffer.from('i1e2:ffi2ee')]);
    expect(() => decodeBencode(hex)).toThrow(expect.objectContaining({ code: 'BT_ERR_BENCODE_DUPLICATE_KEY' }));
    // Alone, such keys are read (named as the decoder names them), and the span is of that same key.
    const lone = Buffer.concat([Buffer.from('d7:'), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('infoi2ee')]);
    const { value, scan } = decodeBencode(lone);
    expect(value).toEqual({ info: 2 });
    expect(scan.topLevelSpans.get('info')).toEqual({ start: 10, end: 13 });
  });

  it('a dictionary with distinct keys in any order decodes whatever the keys', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.uint8Array({ maxLength: 6 }), {
          maxLength: 6,
          selector: (k) => Buffer.from(k).toString('hex'),
        }),
        (keys) => {
          const parts = keys.map((k, i) => Buffer.concat([Buffer.from(`${k.length}:`), k, Buffer.from(`i${i}e`)]));
          const enc = Buffer.concat([Buffer.from('d'), ...parts, Buffer.from('e')]);
          try {
            const { value } = decodeBencode(enc);
            // Every key's value is there: no key overwrote another's.
            expect(Object.keys(value as object)).toHaveLength(keys.length);
          } catch (err) {
            expect(err).toBeInstanceOf(BencodeError);
            expect((err as BencodeError).code).toMatch(/BT_ERR_BENCODE_(DUPLICATE|UNSAFE)_KEY/);
          }
        },
      ),
      propertyOptions,
    );
  });
});
