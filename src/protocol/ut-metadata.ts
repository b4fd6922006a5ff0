/**
 * The BEP 9 `ut_metadata` extension messages: how peers exchange a torrent's info dictionary (the
 * "metadata") in 16 KiB pieces, so a magnet link needs nothing but the info hash.
 *
 * Each message is the payload of a BEP 10 extended message (after the extended id byte): a bencoded
 * dictionary `{msg_type, piece}` — 0 request, 1 data, 2 reject — and, for data, `total_size` followed,
 * in the same payload, by the raw bytes of the piece. Every piece is {@link METADATA_PIECE_SIZE} bytes
 * except the last.
 *
 * Pure and strict: any payload that is not exactly one of these messages is a {@link BtError} with a
 * `BT_ERR_UT_METADATA_…` code, never another exception; a decoded data piece is a zero-copy view of the
 * payload. An unknown `msg_type` decodes to `{ type: 'unknown' }`, to be ignored (BEP 9: "an
 * unrecognized message ID MUST be ignored").
 */
import { decodeBencode, encodeBencode, get, isDict, type BencodeDict } from './bencode.js';
import { BtError } from './errors.js';

/** BEP 9: metadata is exchanged in pieces of 16 KiB (the last one may be shorter). */
export const METADATA_PIECE_SIZE = 16 * 1024;
/** Default cap on a torrent's metadata size (a remote party names it): 16 MiB, 1024 pieces. */
export const MAX_METADATA_SIZE = 16 * 1024 * 1024;

/** BEP 9 `msg_type` values. */
export const UtMetadataType = { request: 0, data: 1, reject: 2 } as const;

export type UtMetadataMessage =
  | { type: 'request'; piece: number }
  /** `data` is a view of the decoded payload (not a copy). */
  | { type: 'data'; piece: number; totalSize: number; data: Uint8Array }
  | { type: 'reject'; piece: number };

/** What {@link decodeUtMetadata} returns: a message, or a `msg_type` this codec does not know. */
export type UtMetadataDecoded = UtMetadataMessage | { type: 'unknown'; msgType: number };

export type UtMetadataErrorCode =
  /** Not a bencoded dictionary, or `msg_type`/`piece`/`total_size` missing or not integers. */
  | 'BT_ERR_UT_METADATA_MESSAGE'
  /** Bytes after the dictionary of a request or reject. */
  | 'BT_ERR_UT_METADATA_TRAILING'
  /** A piece index outside the metadata's pieces. */
  | 'BT_ERR_UT_METADATA_PIECE'
  /** A data piece whose length is not the piece's (16 KiB, or the rest for the last one). */
  | 'BT_ERR_UT_METADATA_LENGTH'
  /** A size that is not a positive integer, or `total_size` not the handshake's `metadata_size`. */
  | 'BT_ERR_UT_METADATA_SIZE'
  /** A size over the cap (`maxMetadataSize`, default {@link MAX_METADATA_SIZE}). */
  | 'BT_ERR_UT_METADATA_TOO_LARGE'
  /** A metadata assembler given options it cannot work with (an info hash that is not 20 bytes…). */
  | 'BT_ERR_UT_METADATA_OPTIONS';

export class UtMetadataError extends BtError {
  override readonly name = 'UtMetadataError';
  constructor(
    override readonly code: UtMetadataErrorCode,
    message: string,
  ) {
    super(code, `ut_metadata: ${message}`);
  }
}

export interface UtMetadataLimits {
  /**
   * The metadata size this exchange is about: the peer's handshake `metadata_size` for data we receive,
   * our own info dictionary's size for requests we serve. When given, piece indices, `total_size` and
   * data lengths are checked against it; when absent, against the `total_size` of a data message and
   * the cap.
   */
  metadataSize?: number;
  /** Largest metadata size accepted (default {@link MAX_METADATA_SIZE}). */
  maxMetadataSize?: number;
}

/** Number of pieces of metadata of `size` bytes. */
export function metadataPieceCount(size: number): number {
  return Math.ceil(size / METADATA_PIECE_SIZE);
}

/** Length of piece `index` of metadata of `size` bytes (16 KiB, or the remainder for the last). */
export function metadataPieceLength(size: number, index: number): number {
  return Math.min(METADATA_PIECE_SIZE, size - index * METADATA_PIECE_SIZE);
}

/**
 * Piece `index` of an info dictionary, as a view of `info`, for answering a request.
 *
 * @example encodeUtMetadata({ type: 'data', piece: 0, totalSize: info.length, data: metadataPiece(info, 0) })
 */
export function metadataPiece(info: Uint8Array, index: number): Uint8Array {
  checkSize(info.length, Number.MAX_SAFE_INTEGER);
  checkPiece(index, info.length);
  const start = index * METADATA_PIECE_SIZE;
  return info.subarray(start, start + metadataPieceLength(info.length, index));
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function checkSize(size: unknown, max: number): asserts size is number {
  if (!isInt(size) || size < 1)
    throw new UtMetadataError('BT_ERR_UT_METADATA_SIZE', `size ${String(size)} is not a positive integer`);
  if (size > max)
    throw new UtMetadataError('BT_ERR_UT_METADATA_TOO_LARGE', `size ${size} is over the cap of ${max} bytes`);
}

function checkPiece(piece: unknown, size: number): asserts piece is number {
  const count = metadataPieceCount(size);
  if (!isInt(piece) || piece < 0 || piece >= count)
    throw new UtMetadataError('BT_ERR_UT_METADATA_PIECE', `piece ${String(piece)} is not in 0..${count - 1}`);
}

/**
 * Encodes a message as an extended-message payload. For `data`, the dictionary and the piece bytes
 * come in one buffer (use {@link encodeUtMetadataDataHeader} to write the piece without copying it).
 * Throws `BT_ERR_UT_METADATA_…` for a message the decoder would refuse.
 *
 * @example encodeUtMetadata({ type: 'request', piece: 0 }) // d8:msg_typei0e5:piecei0ee
 */
export function encodeUtMetadata(msg: UtMetadataMessage, limits: UtMetadataLimits = {}): Uint8Array {
  const max = limits.maxMetadataSize ?? MAX_METADATA_SIZE;
  if (msg.type === 'data') {
    const header = encodeUtMetadataDataHeader(msg.piece, msg.totalSize, limits);
    if (msg.data.length !== metadataPieceLength(msg.totalSize, msg.piece))
      throw new UtMetadataError(
        'BT_ERR_UT_METADATA_LENGTH',
        `piece ${msg.piece} has ${msg.data.length} bytes, not ${metadataPieceLength(msg.totalSize, msg.piece)}`,
      );
    const out = new Uint8Array(header.length + msg.data.length);
    out.set(header);
    out.set(msg.data, header.length);
    return out;
  }
  if (limits.metadataSize !== undefined) {
    checkSize(limits.metadataSize, max);
    checkPiece(msg.piece, limits.metadataSize);
  } else {
    checkPiece(msg.piece, max);
  }
  return encodeBencode({ msg_type: UtMetadataType[msg.type], piece: msg.piece });
}

/**
 * The dictionary of a data message alone; the piece's bytes are to be written right after it, in the
 * same extended message.
 */
export function encodeUtMetadataDataHeader(
  piece: number,
  totalSize: number,
  limits: UtMetadataLimits = {},
): Uint8Array {
  checkSize(totalSize, limits.maxMetadataSize ?? MAX_METADATA_SIZE);
  if (limits.metadataSize !== undefined && limits.metadataSize !== totalSize)
    throw new UtMetadataError('BT_ERR_UT_METADATA_SIZE', `total_size ${totalSize} is not ${limits.metadataSize}`);
  checkPiece(piece, totalSize);
  return encodeBencode({ msg_type: UtMetadataType.data, piece, total_size: totalSize });
}

const bad = (message: string) => new UtMetadataError('BT_ERR_UT_METADATA_MESSAGE', message);

/**
 * Decodes an extended-message payload of `ut_metadata`. Throws a {@link UtMetadataError} for
 * anything but one well-formed message within `limits`.
 *
 * @example
 * const msg = decodeUtMetadata(payload, { metadataSize: handshake.metadataSize });
 * if (msg.type === 'data') assembler.received(peer, msg.piece, msg.data, now);
 */
export function decodeUtMetadata(payload: Uint8Array, limits: UtMetadataLimits = {}): UtMetadataDecoded {
  const max = limits.maxMetadataSize ?? MAX_METADATA_SIZE;
  if (limits.metadataSize !== undefined) checkSize(limits.metadataSize, max);
  let dict: BencodeDict;
  let end: number;
  try {
    const { value, scan } = decodeBencode(payload, { maxDepth: 4, allowTrailing: true });
    if (!isDict(value)) throw bad('not a dictionary');
    dict = value;
    end = scan.end;
  } catch (err) {
    if (err instanceof UtMetadataError) throw err;
    throw bad((err as Error).message);
  }
  const msgType = get(dict, 'msg_type');
  if (!isInt(msgType)) throw bad('msg_type is not an integer');
  if (msgType !== UtMetadataType.request && msgType !== UtMetadataType.data && msgType !== UtMetadataType.reject) {
    return { type: 'unknown', msgType };
  }
  const piece = get(dict, 'piece');
  if (!isInt(piece)) throw bad('piece is not an integer');

  if (msgType === UtMetadataType.data) {
    const totalSize = get(dict, 'total_size');
    if (totalSize === undefined) throw bad('data without total_size');
    if (!isInt(totalSize)) throw bad('total_size is not an integer');
    checkSize(totalSize, max);
    if (limits.metadataSize !== undefined && totalSize !== limits.metadataSize)
      throw new UtMetadataError(
        'BT_ERR_UT_METADATA_SIZE',
        `total_size ${totalSize} is not the metadata_size ${limits.metadataSize} of the handshake`,
      );
    checkPiece(piece, totalSize);
    const data = payload.subarray(end);
    const want = metadataPieceLength(totalSize, piece);
    if (data.length !== want)
      throw new UtMetadataError('BT_ERR_UT_METADATA_LENGTH', `piece ${piece} has ${data.length} bytes, not ${want}`);
    return { type: 'data', piece, totalSize, data };
  }

  if (end !== payload.length)
    throw new UtMetadataError('BT_ERR_UT_METADATA_TRAILING', `${payload.length - end} bytes after the dictionary`);
  checkPiece(piece, limits.metadataSize ?? max);
  return { type: msgType === UtMetadataType.request ? 'request' : 'reject', piece };
}
