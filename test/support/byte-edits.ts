/**
 * Edits of an encoding for the codecs' property tests: overwrite a byte (one of the codec's structural
 * bytes, or any), delete or insert a few bytes, or cut it short. A valid encoding mutated so must give
 * a typed error or a valid message, never another exception.
 */
import fc from 'fast-check';

export type ByteEdit =
  | { t: 'set'; at: number; byte: number }
  | { t: 'delete'; at: number; n: number }
  | { t: 'insert'; at: number; bytes: Uint8Array }
  | { t: 'truncate'; at: number };

/** Edits whose overwrites favour `structural` bytes (bencode's digits, `:`, `d`, `e`, `i`, `l`, `-` …). */
export function byteEdit(structural: readonly number[]): fc.Arbitrary<ByteEdit> {
  return fc.oneof(
    fc.record({ t: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(...structural) }),
    fc.record({ t: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ t: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({
      t: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }),
    }),
    fc.record({ t: fc.constant('truncate' as const), at: fc.nat() }),
  );
}

export function applyEdit(buf: Uint8Array, e: ByteEdit): Uint8Array {
  const at = e.at % (buf.length + 1);
  switch (e.t) {
    case 'set': {
      if (buf.length === 0) return buf;
      const out = buf.slice();
      out[e.at % buf.length] = e.byte;
      return out;
    }
    case 'delete':
      return Uint8Array.from([...buf.subarray(0, at), ...buf.subarray(at + e.n)]);
    case 'insert':
      return Uint8Array.from([...buf.subarray(0, at), ...e.bytes, ...buf.subarray(at)]);
    case 'truncate':
      return buf.subarray(0, at);
  }
}
