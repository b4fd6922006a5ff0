/**
 * Properties of the BEP 9 ut_metadata codec (src/protocol/ut-metadata.ts):
 * - decode(encode(m)) is m, a data piece is a view of the payload (no copy), re-encoding gives the bytes;
 * - random bytes and mutated or truncated encodings decode to a message or fail with a
 *   UtMetadataError `BT_ERR_UT_METADATA_…`, never another exception;
 * - hostile dictionaries are judged exactly as a model of BEP 9 says (piece out of range, data of the
 *   wrong length, total_size not the handshake's, sizes over the cap, bytes after a request);
 * - the encoder refuses what the decoder would refuse; metadataPiece slices the info dictionary.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeBencode } from '../../src/protocol/bencode.js';
import {
  MAX_METADATA_SIZE,
  METADATA_PIECE_SIZE,
  UtMetadataError,
  decodeUtMetadata,
  encodeUtMetadata,
  encodeUtMetadataDataHeader,
  metadataPiece,
  metadataPieceCount,
  metadataPieceLength,
  type UtMetadataDecoded,
  type UtMetadataErrorCode,
  type UtMetadataLimits,
  type UtMetadataMessage,
} from '../../src/protocol/ut-metadata.js';
import { propertyOptions } from '../support/fc.js';
import { applyEdit, byteEdit } from '../support/byte-edits.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Metadata sizes: mostly a few pieces, sometimes up to the cap, with the edges. */
const sizeArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 5 * METADATA_PIECE_SIZE }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: MAX_METADATA_SIZE }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      1,
      METADATA_PIECE_SIZE - 1,
      METADATA_PIECE_SIZE,
      METADATA_PIECE_SIZE + 1,
      MAX_METADATA_SIZE - 1,
      MAX_METADATA_SIZE,
    ),
  },
);

/** Bytes of a given length, cheap to make (a pattern from a seed). */
const bytesOf = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
};

const messageArb: fc.Arbitrary<{ msg: UtMetadataMessage; size: number }> = sizeArb.chain((size) =>
  fc
    .tuple(
      fc.constantFrom('request' as const, 'data' as const, 'reject' as const),
      fc.integer({ min: 0, max: metadataPieceCount(size) - 1 }),
      fc.nat(255),
    )
    .map(([type, piece, seed]) => {
      const msg: UtMetadataMessage =
        type === 'data'
          ? { type, piece, totalSize: size, data: bytesOf(metadataPieceLength(size, piece), seed) }
          : { type, piece };
      return { msg, size };
    }),
);

/** Values a hostile dictionary may hold under msg_type, piece and total_size. */
const intish = fc.oneof(
  fc.integer({ min: -3, max: 1100 }),
  fc.constantFrom(
    0,
    1,
    2,
    3,
    1023,
    1024,
    METADATA_PIECE_SIZE,
    MAX_METADATA_SIZE,
    MAX_METADATA_SIZE + 1,
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_SAFE_INTEGER,
  ),
  fc.integer({ min: 1, max: 5 * METADATA_PIECE_SIZE }),
);
const hostileValue = fc.oneof(
  { weight: 6, arbitrary: intish },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }) },
  { weight: 1, arbitrary: fc.constant({ piece: 0 }) },
);

const editArb = byteEdit([0x30, 0x31, 0x32, 0x39, 0x3a, 0x64, 0x65, 0x69, 0x6c, 0x2d]);

const limitsArb: fc.Arbitrary<UtMetadataLimits> = fc.record(
  {
    metadataSize: sizeArb,
    maxMetadataSize: fc.constantFrom(MAX_METADATA_SIZE, 4 * METADATA_PIECE_SIZE, 1000),
  },
  { requiredKeys: [] },
);

// ---------------------------------------------------------------------------------------------
// Checks

const CODES: readonly string[] = [
  'BT_ERR_UT_METADATA_MESSAGE',
  'BT_ERR_UT_METADATA_TRAILING',
  'BT_ERR_UT_METADATA_PIECE',
  'BT_ERR_UT_METADATA_LENGTH',
  'BT_ERR_UT_METADATA_SIZE',
  'BT_ERR_UT_METADATA_TOO_LARGE',
];

/** Decodes, requiring a message within the limits or a UtMetadataError with one of the codes. */
function decodeOrRefuse(payload: Uint8Array, limits: UtMetadataLimits): UtMetadataDecoded | UtMetadataErrorCode {
  let msg: UtMetadataDecoded;
  try {
    msg = decodeUtMetadata(payload, limits);
  } catch (err) {
    if (!(err instanceof UtMetadataError) || !CODES.includes(err.code)) throw err;
    return err.code;
  }
  const max = limits.maxMetadataSize ?? MAX_METADATA_SIZE;
  if (msg.type === 'unknown') {
    expect(Number.isSafeInteger(msg.msgType) && ![0, 1, 2].includes(msg.msgType)).toBe(true);
    return msg;
  }
  const size = msg.type === 'data' ? msg.totalSize : (limits.metadataSize ?? max);
  const ok =
    Number.isSafeInteger(msg.piece) &&
    msg.piece >= 0 &&
    msg.piece < metadataPieceCount(size) &&
    (msg.type !== 'data' ||
      (msg.totalSize >= 1 &&
        msg.totalSize <= max &&
        (limits.metadataSize === undefined || msg.totalSize === limits.metadataSize) &&
        msg.data.length === metadataPieceLength(msg.totalSize, msg.piece) &&
        msg.data.buffer === payload.buffer));
  if (!ok) expect(msg).toBe('a message within the limits');
  return msg;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** BEP 9 as a model: what a payload of `dict` followed by `tail` bytes must decode to. */
function model(
  dict: Record<string, unknown>,
  tailLength: number,
  limits: UtMetadataLimits,
): UtMetadataErrorCode | 'request' | 'data' | 'reject' | 'unknown' {
  const max = limits.maxMetadataSize ?? MAX_METADATA_SIZE;
  if (limits.metadataSize !== undefined && limits.metadataSize > max) return 'BT_ERR_UT_METADATA_TOO_LARGE';
  const t = dict.msg_type;
  if (!isInt(t)) return 'BT_ERR_UT_METADATA_MESSAGE';
  if (t !== 0 && t !== 1 && t !== 2) return 'unknown';
  const piece = dict.piece;
  if (!isInt(piece)) return 'BT_ERR_UT_METADATA_MESSAGE';
  if (t === 1) {
    const total = dict.total_size;
    if (!isInt(total)) return 'BT_ERR_UT_METADATA_MESSAGE';
    if (total < 1) return 'BT_ERR_UT_METADATA_SIZE';
    if (total > max) return 'BT_ERR_UT_METADATA_TOO_LARGE';
    if (limits.metadataSize !== undefined && total !== limits.metadataSize) return 'BT_ERR_UT_METADATA_SIZE';
    if (piece < 0 || piece >= metadataPieceCount(total)) return 'BT_ERR_UT_METADATA_PIECE';
    if (tailLength !== metadataPieceLength(total, piece)) return 'BT_ERR_UT_METADATA_LENGTH';
    return 'data';
  }
  if (tailLength !== 0) return 'BT_ERR_UT_METADATA_TRAILING';
  if (piece < 0 || piece >= metadataPieceCount(limits.metadataSize ?? max)) return 'BT_ERR_UT_METADATA_PIECE';
  return t === 0 ? 'request' : 'reject';
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);

// ---------------------------------------------------------------------------------------------
// Properties

describe('ut_metadata codec properties', () => {
  it('round-trips every message, byte for byte, with the data piece a view of the payload', () => {
    fc.assert(
      fc.property(messageArb, fc.boolean(), ({ msg, size }, known) => {
        const limits = known ? { metadataSize: size } : {};
        const bytes = encodeUtMetadata(msg, limits);
        const back = decodeUtMetadata(bytes, limits);
        // Compared without the data, then the data byte-wise (a deep equal of 16 KiB is slow).
        const { data: _d, ...fields } = back as { data?: Uint8Array };
        const { data: _m, ...want } = msg as { data?: Uint8Array };
        expect(fields).toEqual(want);
        if (back.type === 'data' && msg.type === 'data') {
          expect(sameBytes(back.data, msg.data)).toBe(true);
          expect(back.data.buffer).toBe(bytes.buffer);
          expect(back.data.byteOffset + back.data.length).toBe(bytes.length);
          // The header written alone, then the piece: the same payload.
          const header = encodeUtMetadataDataHeader(back.piece, back.totalSize, limits);
          expect(sameBytes(Buffer.concat([header, back.data]), bytes)).toBe(true);
        }
        expect(sameBytes(encodeUtMetadata(back as UtMetadataMessage, limits), bytes)).toBe(true);
      }),
      propertyOptions,
    );
  });

  it('turns random bytes into a message or a BT_ERR_UT_METADATA_… error, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), limitsArb, (bytes, limits) => {
        decodeOrRefuse(bytes, limits);
      }),
      propertyOptions,
    );
  });

  it('turns mutated and truncated encodings into a message or a BT_ERR_UT_METADATA_… error', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.array(editArb, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        ({ msg, size }, edits, known) => {
          const limits = known ? { metadataSize: size } : {};
          let bytes = encodeUtMetadata(msg, limits);
          for (const e of edits) bytes = applyEdit(bytes, e);
          decodeOrRefuse(bytes, limits);
        },
      ),
      propertyOptions,
    );
  });

  it('judges hostile dictionaries exactly as BEP 9 and the limits say', () => {
    const dictArb = fc.record(
      {
        msg_type: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 2 }) }, hostileValue),
        piece: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 5 }) }, hostileValue),
        total_size: fc.oneof({ weight: 3, arbitrary: sizeArb }, hostileValue),
        v: hostileValue,
        extra: fc.uint8Array({ maxLength: 3 }),
      },
      { requiredKeys: [] },
    );
    // Tail lengths near the piece lengths that matter.
    const tailArb = fc.oneof(
      fc.constantFrom(0, 1, METADATA_PIECE_SIZE - 1, METADATA_PIECE_SIZE, METADATA_PIECE_SIZE + 1),
      fc.nat(METADATA_PIECE_SIZE + 2),
    );
    fc.assert(
      fc.property(dictArb, tailArb, limitsArb, fc.boolean(), (dict, tailLength, limits, exact) => {
        // Half the time, make the tail exactly the piece the dictionary names.
        let tail = tailLength;
        if (exact && isInt(dict.total_size) && isInt(dict.piece) && dict.total_size >= 1) {
          const len = metadataPieceLength(dict.total_size, dict.piece);
          if (len >= 0 && len <= METADATA_PIECE_SIZE) tail = len;
        }
        const head = encodeBencode(dict);
        const payload = new Uint8Array(head.length + tail);
        payload.set(head);
        payload.fill(0x65, head.length); // 'e': the tail must never be read as bencode
        const expected = model(dict, tail, limits);
        const got = decodeOrRefuse(payload, limits);
        expect(typeof got === 'string' ? got : got.type).toBe(expected);
        if (typeof got !== 'string' && got.type !== 'unknown') expect(got.piece).toBe(dict.piece);
      }),
      propertyOptions,
    );
  });

  it('refuses integers bencode can carry but a safe integer cannot', () => {
    for (const big of ['18446744073709551616', '9007199254740993', '-9007199254740993']) {
      for (const key of ['msg_type', 'piece']) {
        const dict = key === 'msg_type' ? `d8:msg_typei${big}e5:piecei0ee` : `d8:msg_typei0e5:piecei${big}ee`;
        expect(decodeOrRefuse(Buffer.from(dict, 'latin1'), {})).toBe('BT_ERR_UT_METADATA_MESSAGE');
      }
      const data = `d8:msg_typei1e5:piecei0e10:total_sizei${big}ee`;
      expect(decodeOrRefuse(Buffer.from(data, 'latin1'), {})).toBe('BT_ERR_UT_METADATA_MESSAGE');
    }
  });

  it('refuses to encode what it would refuse to decode', () => {
    const badArb = fc.record({
      type: fc.constantFrom('request' as const, 'data' as const, 'reject' as const),
      piece: fc.oneof(fc.integer({ min: -2, max: 1100 }), fc.constant(0.5)),
      totalSize: fc.oneof(sizeArb, fc.integer({ min: -2, max: 0 }), fc.constant(MAX_METADATA_SIZE + 1)),
      dataLength: fc.nat(METADATA_PIECE_SIZE + 1),
      limits: limitsArb,
    });
    fc.assert(
      fc.property(badArb, ({ type, piece, totalSize, dataLength, limits }) => {
        const msg: UtMetadataMessage =
          type === 'data' ? { type, piece, totalSize, data: new Uint8Array(dataLength) } : { type, piece };
        let bytes: Uint8Array;
        try {
          bytes = encodeUtMetadata(msg, limits);
        } catch (err) {
          if (!(err instanceof UtMetadataError) || !CODES.includes(err.code)) throw err;
          return;
        }
        expect(decodeUtMetadata(bytes, limits)).toEqual(msg);
      }),
      propertyOptions,
    );
  });

  it('slices an info dictionary into pieces that join back into it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 * METADATA_PIECE_SIZE + 7 }), fc.nat(255), (size, seed) => {
        const info = bytesOf(size, seed);
        const count = metadataPieceCount(size);
        const pieces = Array.from({ length: count }, (_, i) => metadataPiece(info, i));
        expect(pieces.every((p, i) => p.length === metadataPieceLength(size, i) && p.buffer === info.buffer)).toBe(
          true,
        );
        expect(pieces.slice(0, -1).every((p) => p.length === METADATA_PIECE_SIZE)).toBe(true);
        expect(sameBytes(Buffer.concat(pieces), info)).toBe(true);
        for (const i of [-1, count, 0.5]) expect(() => metadataPiece(info, i)).toThrow(UtMetadataError);
      }),
      { numRuns: Math.min(propertyOptions.numRuns, 2000) },
    );
  });
});
