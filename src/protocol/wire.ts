/**
 * The peer wire protocol: the BEP 3 handshake and messages, BEP 5's `port`, BEP 6 (fast extension),
 * BEP 10 (extension protocol) and BEP 52's `hash request` / `hashes` / `hash reject` messages. Pure and allocation-conscious:
 *
 * - {@link decodeMessage} is incremental and bounded: it returns a message and the bytes consumed,
 *   "need N more bytes", or a {@link WireError}. The length prefix is checked against the caps of
 *   {@link WireLimits} as soon as it is readable, before the body is awaited or anything allocated.
 * - Decoded payloads (`piece` blocks, `bitfield` bytes, `extended`/`unknown` payloads, BEP 52 pieces
 *   roots and hashes) are `subarray` views of the input: zero copy. Copy them if the input buffer will be reused.
 * - {@link encodeMessage} builds one exact-size buffer; {@link encodePieceHeader} lets a block be
 *   written after its 13-byte header without copying the block.
 *
 * The stateful framing over a byte stream is in `wire-framing.ts`.
 */
import { BtError } from './errors.js';
import { BLOCK_LENGTH, type BlockRequest } from './layout.js';

// ---------------------------------------------------------------------------------------------
// Constants

/** BEP 3: the protocol string of the handshake, preceded by its length byte (19). */
export const PROTOCOL_STRING = 'BitTorrent protocol';
/** BEP 3: handshake length: 1 (pstrlen) + 19 (pstr) + 8 (reserved) + 20 (info_hash) + 20 (peer_id). */
export const HANDSHAKE_LENGTH = 68;
/** BEP 3: size of the reserved bytes of the handshake. */
export const RESERVED_LENGTH = 8;
/** BEP 3: size of the info hash (SHA-1) and of the peer id. */
export const INFO_HASH_LENGTH = 20;
export const PEER_ID_LENGTH = 20;
/** BEP 3: the conventional (and maximum commonly accepted) request/block size, 16 KiB (see layout.ts). */
export const BLOCK_SIZE = BLOCK_LENGTH;
/** BEP 3: a `piece` message's header: 4 (length) + 1 (id) + 4 (index) + 4 (begin). */
export const PIECE_HEADER_LENGTH = 13;

/** BEP 5: reserved[7] bit announcing DHT support (the `port` message). */
export const RESERVED_DHT = { byte: 7, mask: 0x01 } as const;
/** BEP 6: reserved[7] bit announcing the fast extension. */
export const RESERVED_FAST = { byte: 7, mask: 0x04 } as const;
/** BEP 10: reserved[5] bit announcing the extension protocol. */
export const RESERVED_EXTENDED = { byte: 5, mask: 0x10 } as const;
/** BEP 52: reserved[7] bit announcing BitTorrent v2 (for a hybrid: the connection may move to the v2 hash). */
export const RESERVED_V2 = { byte: 7, mask: 0x10 } as const;

/** Message ids (the byte after the length prefix). */
export const MessageId = {
  choke: 0, // BEP 3
  unchoke: 1, // BEP 3
  interested: 2, // BEP 3
  notInterested: 3, // BEP 3
  have: 4, // BEP 3
  bitfield: 5, // BEP 3
  request: 6, // BEP 3
  piece: 7, // BEP 3
  cancel: 8, // BEP 3
  port: 9, // BEP 5 (DHT)
  suggest: 13, // BEP 6
  haveAll: 14, // BEP 6
  haveNone: 15, // BEP 6
  reject: 16, // BEP 6
  allowedFast: 17, // BEP 6
  extended: 20, // BEP 10
  hashRequest: 21, // BEP 52
  hashes: 22, // BEP 52
  hashReject: 23, // BEP 52
} as const;

/** BEP 10: extended message id 0 is the extension handshake. */
export const EXTENDED_HANDSHAKE_ID = 0;

/** Default cap of a length prefix: a 16 KiB block plus the 13-byte piece header (BEP 3). */
export const DEFAULT_MAX_MESSAGE_LENGTH = BLOCK_SIZE + PIECE_HEADER_LENGTH;
/** Floor of the default BEP 10 cap: a 16 KiB metadata piece (BEP 9) plus 1 KiB for its dictionary. */
export const MIN_DEFAULT_MAX_EXTENDED_LENGTH = BLOCK_SIZE + 1024;
/**
 * Default cap of a `bitfield` message while the piece count is unknown (e.g. a magnet link before
 * BEP 9 metadata): 1 + 2^20 / 8 bytes, i.e. up to 1,048,576 pieces.
 */
export const DEFAULT_MAX_BITFIELD_LENGTH = 1 + (1 << 20) / 8;

/** BEP 52: size of a pieces root (SHA-256) and of each hash of a `hashes` message. */
export const MERKLE_HASH_LENGTH = 32;
/**
 * BEP 52: length prefix of `hash request` and `hash reject`: id, pieces root, then base layer, index,
 * length and proof layers (uint32 each). A `hashes` message has the same header, then its hashes.
 */
export const HASH_REQUEST_LENGTH = 1 + MERKLE_HASH_LENGTH + 16;
/**
 * Default cap of the hashes one `hashes` message may carry: 512 of the base layer (what libtorrent
 * asks for at once, and BEP 52's largest useful request) plus 64 proof hashes (a tree of 2^64 leaves).
 */
export const DEFAULT_MAX_HASH_COUNT = 512 + 64;

// ---------------------------------------------------------------------------------------------
// Types

export interface Handshake {
  /** 8 reserved bytes carrying extension bits (see {@link handshakeExtensions}). */
  reserved: Uint8Array;
  /** 20-byte SHA-1 of the info dictionary. */
  infoHash: Uint8Array;
  /** 20-byte peer id. */
  peerId: Uint8Array;
}

export interface HandshakeExtensions {
  /** BEP 5: reserved[7] & 0x01. */
  dht: boolean;
  /** BEP 6: reserved[7] & 0x04. */
  fast: boolean;
  /** BEP 10: reserved[5] & 0x10. */
  extended: boolean;
  /** BEP 52: reserved[7] & 0x10. */
  v2: boolean;
}

/** A block coordinate: `request`, `cancel` and `reject` carry one (the layout's {@link BlockRequest}). */
export type BlockRef = BlockRequest;

/**
 * BEP 52: which hashes of a file's merkle tree a `hash request`, `hashes` or `hash reject` names.
 * Layers count up from the leaves (16 KiB blocks: layer 0).
 */
export interface HashRange {
  /** The file's `pieces root` (32 bytes; a view of the input when decoded). */
  piecesRoot: Uint8Array;
  /** The layer of the requested hashes (0: the leaves). */
  baseLayer: number;
  /** The first requested node of the base layer. */
  index: number;
  /** How many nodes of the base layer. */
  length: number;
  /** How many layers above the base the proof reaches (the uncle hashes that go with the range). */
  proofLayers: number;
}

export type WireMessage =
  | { type: 'keep-alive' }
  | { type: 'choke' }
  | { type: 'unchoke' }
  | { type: 'interested' }
  | { type: 'not-interested' }
  | { type: 'have'; index: number }
  | { type: 'bitfield'; bytes: Uint8Array }
  | ({ type: 'request' } & BlockRef)
  | { type: 'piece'; index: number; begin: number; block: Uint8Array }
  | ({ type: 'cancel' } & BlockRef)
  | { type: 'port'; port: number }
  | { type: 'suggest'; index: number }
  | { type: 'have-all' }
  | { type: 'have-none' }
  | ({ type: 'reject' } & BlockRef)
  | { type: 'allowed-fast'; index: number }
  /** BEP 10: `id` is the extended message id (0 = extension handshake); `payload` follows it. */
  | { type: 'extended'; id: number; payload: Uint8Array }
  /** BEP 52 (id 21): the peer asks for a range of a file's merkle tree and its proof. */
  | ({ type: 'hash-request' } & HashRange)
  /**
   * BEP 52 (id 22): the answer: `hashes` holds the range's hashes then the uncle hashes, 32 bytes each,
   * concatenated (a view of the input when decoded; see `hashCountOf` in hash-tree.ts).
   */
  | ({ type: 'hashes'; hashes: Uint8Array } & HashRange)
  /** BEP 52 (id 23): the peer will not give that range. */
  | ({ type: 'hash-reject' } & HashRange)
  /** Any other message id. BEP 3: unknown messages are ignored, so this is not an error. */
  | { type: 'unknown'; id: number; payload: Uint8Array };

export type WireMessageType = WireMessage['type'];

/** What the framing emits: the handshake first (when expected), then messages. */
export type WireEvent = { type: 'handshake'; handshake: Handshake } | WireMessage;

export type WireErrorCode =
  /** A length prefix above the cap for its message kind. */
  | 'BT_ERR_FRAME_TOO_LARGE'
  /** A known message id with a payload of the wrong length. */
  | 'BT_ERR_MESSAGE_LENGTH'
  /** Wrong pstrlen or protocol string in the handshake. */
  | 'BT_ERR_HANDSHAKE'
  /** A bitfield longer than the piece count allows. */
  | 'BT_ERR_BITFIELD_TOO_LARGE'
  /** BEP 52: a `hashes` message whose hashes are not whole 32-byte hashes. */
  | 'BT_ERR_HASHES_LENGTH'
  /** Encoding: a field outside its integer range (uint32, uint16, uint8) or of the wrong size. */
  | 'BT_ERR_MESSAGE_VALUE'
  /** A cap of {@link WireLimits} that is not a non-negative integer. */
  | 'BT_ERR_LIMITS';

export class WireError extends BtError {
  override readonly name = 'WireError';
  constructor(
    override readonly code: WireErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

/**
 * Caps of the decoder. All lengths are values of the 4-byte length prefix (id + payload). Build them
 * with {@link resolveLimits}, which validates them: `decodeMessage` trusts its limits.
 */
export interface WireLimits {
  /**
   * Cap of the length prefix of every message except `bitfield` and `extended`
   * (default {@link DEFAULT_MAX_MESSAGE_LENGTH}: a 16 KiB block + 13).
   */
  maxMessageLength: number;
  /**
   * When known, a `bitfield` length prefix must be `<= 1 + ceil(pieceCount / 8)`
   * (`BT_ERR_BITFIELD_TOO_LARGE`); this replaces `maxBitfieldLength`.
   */
  pieceCount?: number;
  /** Cap of a `bitfield` length prefix while `pieceCount` is unknown (default {@link DEFAULT_MAX_BITFIELD_LENGTH}). */
  maxBitfieldLength?: number;
  /** Cap of a BEP 10 `extended` length prefix (default `max(maxMessageLength, 16 KiB + 1 KiB)`). */
  maxExtendedLength?: number;
  /** Cap of the hashes of a BEP 52 `hashes` message (default {@link DEFAULT_MAX_HASH_COUNT}). */
  maxHashCount?: number;
}

export const DEFAULT_WIRE_LIMITS: Readonly<WireLimits> = Object.freeze({
  maxMessageLength: DEFAULT_MAX_MESSAGE_LENGTH,
});

/** Throws `BT_ERR_LIMITS` unless `v` is a non-negative safe integer (a NaN cap would disable the check). */
export function checkLimit(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new WireError('BT_ERR_LIMITS', `${name} ${v} is not a non-negative integer`);
  return v;
}

/** Fills in the defaults and validates the values (`BT_ERR_LIMITS`). */
export function resolveLimits(limits: Partial<WireLimits> = {}): WireLimits {
  for (const [name, v] of Object.entries(limits)) if (v !== undefined) checkLimit(name, v);
  const resolved: WireLimits = { maxMessageLength: limits.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH };
  if (limits.pieceCount !== undefined) resolved.pieceCount = limits.pieceCount;
  if (limits.maxBitfieldLength !== undefined) resolved.maxBitfieldLength = limits.maxBitfieldLength;
  if (limits.maxExtendedLength !== undefined) resolved.maxExtendedLength = limits.maxExtendedLength;
  if (limits.maxHashCount !== undefined) resolved.maxHashCount = limits.maxHashCount;
  return resolved;
}

export type DecodeResult =
  | { kind: 'message'; message: WireMessage; consumed: number }
  /** At least `bytes` more bytes are needed (exactly the rest of the message once its prefix is known). */
  | { kind: 'need'; bytes: number }
  | { kind: 'error'; error: WireError };

export type HandshakeDecodeResult =
  | { kind: 'handshake'; handshake: Handshake; consumed: number }
  | { kind: 'need'; bytes: number }
  | { kind: 'error'; error: WireError };

// ---------------------------------------------------------------------------------------------
// Handshake

const PSTR = new TextEncoder().encode(PROTOCOL_STRING);

/** Reads the extension bits of the reserved bytes. */
export function handshakeExtensions(reserved: Uint8Array): HandshakeExtensions {
  return {
    dht: ((reserved[RESERVED_DHT.byte] ?? 0) & RESERVED_DHT.mask) !== 0,
    fast: ((reserved[RESERVED_FAST.byte] ?? 0) & RESERVED_FAST.mask) !== 0,
    extended: ((reserved[RESERVED_EXTENDED.byte] ?? 0) & RESERVED_EXTENDED.mask) !== 0,
    v2: ((reserved[RESERVED_V2.byte] ?? 0) & RESERVED_V2.mask) !== 0,
  };
}

/**
 * Builds the 8 reserved bytes announcing the given extensions.
 *
 * @example
 * ```ts
 * const reserved = makeReserved({ fast: true, extended: true }); // 00 00 00 00 00 10 00 04
 * ```
 */
export function makeReserved(ext: Partial<HandshakeExtensions> = {}): Uint8Array {
  const r = new Uint8Array(RESERVED_LENGTH);
  if (ext.dht) r[RESERVED_DHT.byte]! |= RESERVED_DHT.mask;
  if (ext.fast) r[RESERVED_FAST.byte]! |= RESERVED_FAST.mask;
  if (ext.extended) r[RESERVED_EXTENDED.byte]! |= RESERVED_EXTENDED.mask;
  if (ext.v2) r[RESERVED_V2.byte]! |= RESERVED_V2.mask;
  return r;
}

/**
 * Encodes the 68-byte handshake: 19, "BitTorrent protocol", reserved, info_hash, peer_id.
 *
 * @example
 * ```ts
 * socket.write(encodeHandshake({ reserved: makeReserved({ extended: true }), infoHash, peerId }));
 * ```
 */
export function encodeHandshake(h: Handshake): Uint8Array {
  if (
    h.reserved.length !== RESERVED_LENGTH ||
    h.infoHash.length !== INFO_HASH_LENGTH ||
    h.peerId.length !== PEER_ID_LENGTH
  ) {
    throw new WireError('BT_ERR_MESSAGE_VALUE', 'handshake fields must be 8, 20 and 20 bytes');
  }
  const out = new Uint8Array(HANDSHAKE_LENGTH);
  out[0] = PSTR.length;
  out.set(PSTR, 1);
  out.set(h.reserved, 20);
  out.set(h.infoHash, 28);
  out.set(h.peerId, 48);
  return out;
}

/**
 * Decodes the handshake at `offset`. Incremental: with fewer than 68 bytes it returns `need`, but
 * checks the bytes it has, so a non-BitTorrent stream fails at its first wrong byte. The three fields
 * are copied (48 bytes, once per connection), so they do not keep the input chunk alive.
 */
export function decodeHandshake(buf: Uint8Array, offset = 0): HandshakeDecodeResult {
  const avail = buf.length - offset;
  const check = Math.min(avail, 1 + PSTR.length);
  if (check > 0 && buf[offset] !== PSTR.length) {
    return {
      kind: 'error',
      error: new WireError('BT_ERR_HANDSHAKE', `handshake pstrlen ${buf[offset]} (expected 19)`),
    };
  }
  for (let k = 1; k < check; k++) {
    if (buf[offset + k] !== PSTR[k - 1]) {
      return {
        kind: 'error',
        error: new WireError('BT_ERR_HANDSHAKE', 'handshake protocol string is not "BitTorrent protocol"'),
      };
    }
  }
  if (avail < HANDSHAKE_LENGTH) return { kind: 'need', bytes: HANDSHAKE_LENGTH - avail };
  return {
    kind: 'handshake',
    handshake: {
      reserved: buf.slice(offset + 20, offset + 28),
      infoHash: buf.slice(offset + 28, offset + 48),
      peerId: buf.slice(offset + 48, offset + 68),
    },
    consumed: HANDSHAKE_LENGTH,
  };
}

// ---------------------------------------------------------------------------------------------
// Integers

function readU32(b: Uint8Array, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function u32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new WireError('BT_ERR_MESSAGE_VALUE', `${what} ${v} is not a uint32`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Length prefix (id + payload) of each fixed-size message, by id; -1 for variable-size ones. */
const FIXED_LENGTH: Int8Array = (() => {
  const t = new Int8Array(256).fill(-1);
  t[MessageId.choke] = 1;
  t[MessageId.unchoke] = 1;
  t[MessageId.interested] = 1;
  t[MessageId.notInterested] = 1;
  t[MessageId.have] = 5;
  t[MessageId.request] = 13;
  t[MessageId.cancel] = 13;
  t[MessageId.port] = 3;
  t[MessageId.suggest] = 5;
  t[MessageId.haveAll] = 1;
  t[MessageId.haveNone] = 1;
  t[MessageId.reject] = 13;
  t[MessageId.allowedFast] = 5;
  t[MessageId.hashRequest] = HASH_REQUEST_LENGTH;
  t[MessageId.hashReject] = HASH_REQUEST_LENGTH;
  return t;
})();

/** True when `id` is a message id this codec knows (BEP 3, 5, 6, 10, 52). */
export function isKnownMessageId(id: number): boolean {
  if (!Number.isInteger(id) || id < 0 || id > 0xff) return false;
  return (
    FIXED_LENGTH[id] !== -1 ||
    id === MessageId.bitfield ||
    id === MessageId.piece ||
    id === MessageId.extended ||
    id === MessageId.hashes
  );
}

function frame(id: number, payloadLength: number): Uint8Array {
  const out = new Uint8Array(5 + payloadLength);
  writeU32(out, 0, 1 + payloadLength);
  out[4] = id;
  return out;
}

function idOnly(id: number): Uint8Array {
  return frame(id, 0);
}

function withIndex(id: number, index: number): Uint8Array {
  const out = frame(id, 4);
  writeU32(out, 5, u32(index, 'index'));
  return out;
}

function withBlockRef(id: number, m: BlockRef): Uint8Array {
  const out = frame(id, 12);
  writeU32(out, 5, u32(m.index, 'index'));
  writeU32(out, 9, u32(m.begin, 'begin'));
  writeU32(out, 13, u32(m.length, 'length'));
  return out;
}

function withPayload(id: number, payload: Uint8Array): Uint8Array {
  const out = frame(id, payload.length);
  out.set(payload, 5);
  return out;
}

/** BEP 52: a `hash request`, `hashes` or `hash reject` with room for `hashBytes` after its header. */
function withHashRange(id: number, m: HashRange, hashBytes: number): Uint8Array {
  if (!(m.piecesRoot instanceof Uint8Array) || m.piecesRoot.length !== MERKLE_HASH_LENGTH)
    throw new WireError('BT_ERR_MESSAGE_VALUE', 'a pieces root must be 32 bytes');
  const out = frame(id, HASH_REQUEST_LENGTH - 1 + hashBytes);
  out.set(m.piecesRoot, 5);
  writeU32(out, 37, u32(m.baseLayer, 'base layer'));
  writeU32(out, 41, u32(m.index, 'index'));
  writeU32(out, 45, u32(m.length, 'length'));
  writeU32(out, 49, u32(m.proofLayers, 'proof layers'));
  return out;
}

/**
 * The 13-byte header of a `piece` message carrying a block of `blockLength` bytes; write the block
 * right after it (e.g. `socket.write(header); socket.write(block)`) to avoid copying the block.
 */
export function encodePieceHeader(index: number, begin: number, blockLength: number): Uint8Array {
  const out = new Uint8Array(PIECE_HEADER_LENGTH);
  writePieceHeader(out, 0, index, begin, blockLength);
  return out;
}

/**
 * The 13-byte headers of `piece` messages for several blocks, in one buffer: header `i` is bytes
 * `[13 i, 13 i + 13)` (one allocation for a batch of blocks sent together).
 */
export function encodePieceHeaders(blocks: readonly { index: number; begin: number; block: Uint8Array }[]): Uint8Array {
  const out = new Uint8Array(PIECE_HEADER_LENGTH * blocks.length);
  blocks.forEach((b, i) => writePieceHeader(out, i * PIECE_HEADER_LENGTH, b.index, b.begin, b.block.length));
  return out;
}

function writePieceHeader(out: Uint8Array, at: number, index: number, begin: number, blockLength: number): void {
  u32(blockLength, 'block length');
  if (blockLength > 0xffffffff - 9) throw new WireError('BT_ERR_MESSAGE_VALUE', 'block too large for a length prefix');
  writeU32(out, at, 9 + blockLength);
  out[at + 4] = MessageId.piece;
  writeU32(out, at + 5, u32(index, 'index'));
  writeU32(out, at + 9, u32(begin, 'begin'));
}

/**
 * Encodes one message with its length prefix into a new exact-size buffer. Throws a
 * {@link WireError} `BT_ERR_MESSAGE_VALUE` for out-of-range fields.
 *
 * @example
 * ```ts
 * encodeMessage({ type: 'request', index: 1, begin: 0x4000, length: 0x4000 });
 * // 00 00 00 0d 06 00 00 00 01 00 00 40 00 00 00 40 00
 * ```
 */
export function encodeMessage(msg: WireMessage): Uint8Array {
  switch (msg.type) {
    case 'keep-alive':
      return new Uint8Array(4);
    case 'choke':
      return idOnly(MessageId.choke);
    case 'unchoke':
      return idOnly(MessageId.unchoke);
    case 'interested':
      return idOnly(MessageId.interested);
    case 'not-interested':
      return idOnly(MessageId.notInterested);
    case 'have':
      return withIndex(MessageId.have, msg.index);
    case 'bitfield':
      return withPayload(MessageId.bitfield, msg.bytes);
    case 'request':
      return withBlockRef(MessageId.request, msg);
    case 'piece': {
      const out = new Uint8Array(PIECE_HEADER_LENGTH + msg.block.length);
      out.set(encodePieceHeader(msg.index, msg.begin, msg.block.length), 0);
      out.set(msg.block, PIECE_HEADER_LENGTH);
      return out;
    }
    case 'cancel':
      return withBlockRef(MessageId.cancel, msg);
    case 'port': {
      if (!Number.isInteger(msg.port) || msg.port < 0 || msg.port > 0xffff) {
        throw new WireError('BT_ERR_MESSAGE_VALUE', `port ${msg.port} is not a uint16`);
      }
      const out = frame(MessageId.port, 2);
      out[5] = msg.port >>> 8;
      out[6] = msg.port;
      return out;
    }
    case 'suggest':
      return withIndex(MessageId.suggest, msg.index);
    case 'have-all':
      return idOnly(MessageId.haveAll);
    case 'have-none':
      return idOnly(MessageId.haveNone);
    case 'reject':
      return withBlockRef(MessageId.reject, msg);
    case 'allowed-fast':
      return withIndex(MessageId.allowedFast, msg.index);
    case 'extended': {
      if (!Number.isInteger(msg.id) || msg.id < 0 || msg.id > 0xff) {
        throw new WireError('BT_ERR_MESSAGE_VALUE', `extended message id ${msg.id} is not a uint8`);
      }
      const out = frame(MessageId.extended, 1 + msg.payload.length);
      out[5] = msg.id;
      out.set(msg.payload, 6);
      return out;
    }
    case 'hash-request':
      return withHashRange(MessageId.hashRequest, msg, 0);
    case 'hash-reject':
      return withHashRange(MessageId.hashReject, msg, 0);
    case 'hashes': {
      if (msg.hashes.length % MERKLE_HASH_LENGTH !== 0)
        throw new WireError('BT_ERR_MESSAGE_VALUE', `${msg.hashes.length} bytes are not whole 32-byte hashes`);
      if (msg.hashes.length > 0xffffffff - HASH_REQUEST_LENGTH)
        throw new WireError('BT_ERR_MESSAGE_VALUE', 'too many hashes for a length prefix');
      const out = withHashRange(MessageId.hashes, msg, msg.hashes.length);
      out.set(msg.hashes, 4 + HASH_REQUEST_LENGTH);
      return out;
    }
    case 'unknown': {
      if (!Number.isInteger(msg.id) || msg.id < 0 || msg.id > 0xff || isKnownMessageId(msg.id)) {
        throw new WireError('BT_ERR_MESSAGE_VALUE', `${msg.id} is not an unknown message id`);
      }
      return withPayload(msg.id, msg.payload);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Largest length prefix any message may have under `limits` (checked before the id is known). */
export function maxFrameLength(limits: WireLimits): number {
  return Math.max(limits.maxMessageLength, extendedCap(limits), bitfieldCap(limits), hashesCap(limits));
}

/** Largest length prefix of a BEP 52 `hashes` message under `limits`. */
export function hashesCap(limits: WireLimits): number {
  return HASH_REQUEST_LENGTH + MERKLE_HASH_LENGTH * (limits.maxHashCount ?? DEFAULT_MAX_HASH_COUNT);
}

function extendedCap(limits: WireLimits): number {
  return limits.maxExtendedLength ?? Math.max(limits.maxMessageLength, MIN_DEFAULT_MAX_EXTENDED_LENGTH);
}

function bitfieldCap(limits: WireLimits): number {
  return limits.pieceCount !== undefined
    ? 1 + Math.ceil(limits.pieceCount / 8)
    : (limits.maxBitfieldLength ?? DEFAULT_MAX_BITFIELD_LENGTH);
}

function tooLarge(length: number, cap: number, what: string): DecodeResult {
  return {
    kind: 'error',
    error: new WireError('BT_ERR_FRAME_TOO_LARGE', `${what} length prefix ${length} exceeds the cap ${cap}`),
  };
}

/**
 * Checks a length prefix against the message id's rules; null when acceptable. Everything that can
 * be wrong with a message is decided here, from its first 5 bytes.
 */
function checkHeader(length: number, id: number, limits: WireLimits): DecodeResult | null {
  const fixed = FIXED_LENGTH[id]!;
  if (fixed !== -1) {
    if (length === fixed) return null;
    return {
      kind: 'error',
      error: new WireError(
        'BT_ERR_MESSAGE_LENGTH',
        `message id ${id} with length prefix ${length} (expected ${fixed})`,
      ),
    };
  }
  switch (id) {
    case MessageId.piece:
      if (length > limits.maxMessageLength) return tooLarge(length, limits.maxMessageLength, 'piece');
      if (length < 9) {
        return {
          kind: 'error',
          error: new WireError('BT_ERR_MESSAGE_LENGTH', `piece with length prefix ${length} (at least 9)`),
        };
      }
      return null;
    case MessageId.bitfield: {
      const cap = bitfieldCap(limits);
      if (length > cap) {
        return {
          kind: 'error',
          error: new WireError('BT_ERR_BITFIELD_TOO_LARGE', `bitfield length prefix ${length} exceeds ${cap}`),
        };
      }
      return null;
    }
    case MessageId.extended: {
      const cap = extendedCap(limits);
      if (length > cap) return tooLarge(length, cap, 'extended');
      if (length < 2) {
        return {
          kind: 'error',
          error: new WireError('BT_ERR_MESSAGE_LENGTH', 'extended message without its extended id'),
        };
      }
      return null;
    }
    case MessageId.hashes: {
      const cap = hashesCap(limits);
      if (length > cap) return tooLarge(length, cap, 'hashes');
      if (length < HASH_REQUEST_LENGTH || (length - HASH_REQUEST_LENGTH) % MERKLE_HASH_LENGTH !== 0) {
        return {
          kind: 'error',
          error: new WireError(
            'BT_ERR_HASHES_LENGTH',
            `hashes message with length prefix ${length} (49 plus a multiple of 32)`,
          ),
        };
      }
      return null;
    }
    default:
      if (length > limits.maxMessageLength) return tooLarge(length, limits.maxMessageLength, `message id ${id}`);
      return null;
  }
}

/**
 * Decodes one length-prefixed message at `offset`. Never throws on any input and allocates nothing
 * but the result: a message (payloads are views into `buf`), `need` (the prefix, once readable, has
 * already been checked against the caps), or a {@link WireError} with its code.
 *
 * @example
 * ```ts
 * let offset = 0;
 * for (;;) {
 *   const r = decodeMessage(buf, offset, DEFAULT_WIRE_LIMITS);
 *   if (r.kind !== 'message') break; // 'need' → wait for more bytes; 'error' → drop the peer
 *   handle(r.message);
 *   offset += r.consumed;
 * }
 * ```
 */
export function decodeMessage(buf: Uint8Array, offset: number, limits: WireLimits): DecodeResult {
  const avail = buf.length - offset;
  if (avail < 4) return { kind: 'need', bytes: 4 - avail };
  const length = readU32(buf, offset);
  if (length === 0) return { kind: 'message', message: { type: 'keep-alive' }, consumed: 4 };
  const frameCap = maxFrameLength(limits);
  if (length > frameCap) return tooLarge(length, frameCap, 'message');
  const total = 4 + length;
  if (avail < 5) return { kind: 'need', bytes: total - avail };
  const id = buf[offset + 4]!;
  const bad = checkHeader(length, id, limits);
  if (bad) return bad;
  if (avail < total) return { kind: 'need', bytes: total - avail };
  const p = offset + 5;
  const end = offset + total;
  let message: WireMessage;
  switch (id) {
    case MessageId.choke:
      message = { type: 'choke' };
      break;
    case MessageId.unchoke:
      message = { type: 'unchoke' };
      break;
    case MessageId.interested:
      message = { type: 'interested' };
      break;
    case MessageId.notInterested:
      message = { type: 'not-interested' };
      break;
    case MessageId.have:
      message = { type: 'have', index: readU32(buf, p) };
      break;
    case MessageId.bitfield:
      message = { type: 'bitfield', bytes: buf.subarray(p, end) };
      break;
    case MessageId.request:
      message = { type: 'request', index: readU32(buf, p), begin: readU32(buf, p + 4), length: readU32(buf, p + 8) };
      break;
    case MessageId.piece:
      message = { type: 'piece', index: readU32(buf, p), begin: readU32(buf, p + 4), block: buf.subarray(p + 8, end) };
      break;
    case MessageId.cancel:
      message = { type: 'cancel', index: readU32(buf, p), begin: readU32(buf, p + 4), length: readU32(buf, p + 8) };
      break;
    case MessageId.port:
      message = { type: 'port', port: (buf[p]! << 8) | buf[p + 1]! };
      break;
    case MessageId.suggest:
      message = { type: 'suggest', index: readU32(buf, p) };
      break;
    case MessageId.haveAll:
      message = { type: 'have-all' };
      break;
    case MessageId.haveNone:
      message = { type: 'have-none' };
      break;
    case MessageId.reject:
      message = { type: 'reject', index: readU32(buf, p), begin: readU32(buf, p + 4), length: readU32(buf, p + 8) };
      break;
    case MessageId.allowedFast:
      message = { type: 'allowed-fast', index: readU32(buf, p) };
      break;
    case MessageId.extended:
      message = { type: 'extended', id: buf[p]!, payload: buf.subarray(p + 1, end) };
      break;
    case MessageId.hashRequest:
      message = { type: 'hash-request', ...readHashRange(buf, p) };
      break;
    case MessageId.hashes:
      message = { type: 'hashes', ...readHashRange(buf, p), hashes: buf.subarray(p + HASH_REQUEST_LENGTH - 1, end) };
      break;
    case MessageId.hashReject:
      message = { type: 'hash-reject', ...readHashRange(buf, p) };
      break;
    default:
      message = { type: 'unknown', id, payload: buf.subarray(p, end) };
  }
  return { kind: 'message', message, consumed: total };
}

/** BEP 52: the pieces root (a view) and four uint32 fields at `p`. */
function readHashRange(buf: Uint8Array, p: number): HashRange {
  return {
    piecesRoot: buf.subarray(p, p + MERKLE_HASH_LENGTH),
    baseLayer: readU32(buf, p + 32),
    index: readU32(buf, p + 36),
    length: readU32(buf, p + 40),
    proofLayers: readU32(buf, p + 44),
  };
}
