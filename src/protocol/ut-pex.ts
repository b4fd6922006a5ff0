/**
 * The BEP 11 `ut_pex` (peer exchange) extension message: the payload of a BEP 10 extended message,
 * a bencoded dictionary of compact peer lists —
 *
 * | key | holds |
 * |---|---|
 * | `added` | IPv4 peers connected since the last message, 6 bytes each (BEP 23 compact format) |
 * | `added.f` | one flags byte per `added` peer (optional) |
 * | `added6` | IPv6 peers connected, 18 bytes each (BEP 7 compact format) |
 * | `added6.f` | one flags byte per `added6` peer (optional) |
 * | `dropped` | IPv4 peers disconnected since the last message |
 * | `dropped6` | IPv6 peers disconnected |
 *
 * Pure and strict: a payload that is not such a dictionary, a list whose length is not a whole number
 * of entries, flags whose length is not the number of peers, or a peer both added and dropped (two
 * readings of one message) is a {@link UtPexError} with a `BT_ERR_UT_PEX_…` code, never another
 * exception. Bounds: the decoder keeps at most `maxAdded` added and `maxDropped` dropped peers
 * (default {@link PEX_DECODE_MAX_ENTRIES} each; libtorrent sends up to 100 added) and counts the rest
 * in `skipped`; the encoder refuses more than {@link PEX_MAX_ADDED} added or {@link PEX_MAX_DROPPED}
 * dropped (the 50 + 50 per message agreed between µTorrent and Azureus, which BEP 11 follows).
 */
import { decodeBencode, encodeBencode, get, isBytes, isDict, type BencodeDict } from './bencode.js';
import { BtError } from './errors.js';
import {
  COMPACT_PEER4_LENGTH,
  COMPACT_PEER6_LENGTH,
  decodeCompactPeers4,
  decodeCompactPeers6,
  encodeCompactPeers4,
  encodeCompactPeers6,
  normaliseHost,
  peerKey,
  type PeerAddress,
} from './peer-address.js';

/** BEP 11 flag bits of `added.f` / `added6.f` (other bits are reserved and kept as they come). */
export const PexFlag = {
  /** 0x01: prefers encryption (the `e` field of its extension handshake). */
  encryption: 0x01,
  /** 0x02: seed / upload only. */
  seed: 0x02,
  /** 0x04: supports uTP. */
  utp: 0x04,
  /** 0x08: advertised `ut_holepunch` in its extension handshake. */
  holepunch: 0x08,
  /** 0x10: an outgoing connection: the peer is reachable. */
  reachable: 0x10,
} as const;

/** Most added peers (IPv4 and IPv6 together) the encoder puts in one message. */
export const PEX_MAX_ADDED = 50;
/** Most dropped peers (IPv4 and IPv6 together) the encoder puts in one message. */
export const PEX_MAX_DROPPED = 50;
/** Default number of added, and of dropped, peers the decoder keeps from one message. */
export const PEX_DECODE_MAX_ENTRIES = 100;

/** A peer of a PEX message, with its BEP 11 flags (0 when the sender gave none). */
export interface PexPeer extends PeerAddress {
  flags: number;
}

export interface UtPexMessage {
  added: PexPeer[];
  dropped: PeerAddress[];
}

export interface UtPexDecoded extends UtPexMessage {
  /** Entries over the caps (`maxAdded`, `maxDropped`), left out. */
  skipped: number;
}

export interface UtPexLimits {
  /** Most added peers kept (default {@link PEX_DECODE_MAX_ENTRIES}). */
  maxAdded?: number;
  /** Most dropped peers kept (default {@link PEX_DECODE_MAX_ENTRIES}). */
  maxDropped?: number;
}

export type UtPexErrorCode =
  /** Not a bencoded dictionary, or one of its six keys is not a byte string. */
  | 'BT_ERR_UT_PEX_MESSAGE'
  /** A compact list whose length is not a multiple of 6 (IPv4) or 18 (IPv6). */
  | 'BT_ERR_UT_PEX_LENGTH'
  /** `added.f`/`added6.f` not one byte per peer (or, to encode, a flag outside 0..255). */
  | 'BT_ERR_UT_PEX_FLAGS'
  /** One peer both added and dropped (or, to encode, listed twice). */
  | 'BT_ERR_UT_PEX_CONFLICT'
  /** To encode: more than {@link PEX_MAX_ADDED} added or {@link PEX_MAX_DROPPED} dropped. */
  | 'BT_ERR_UT_PEX_TOO_MANY'
  /** To encode: a host that is not an IP address, or a port outside 1..65535. */
  | 'BT_ERR_UT_PEX_ADDRESS';

export class UtPexError extends BtError {
  override readonly name = 'UtPexError';
  constructor(
    override readonly code: UtPexErrorCode,
    message: string,
  ) {
    super(code, `ut_pex: ${message}`);
  }
}

type Key = 'added' | 'added.f' | 'added6' | 'added6.f' | 'dropped' | 'dropped6';

/**
 * Encodes a message. IPv4 peers (as their address says, whatever `family` claims; IPv4-mapped IPv6
 * text is IPv4) go to `added`/`dropped`, IPv6 peers to `added6`/`dropped6`;
 * empty lists are left out (an `added` list always comes with its `added.f`).
 *
 * @example encodeUtPex({ added: [{ host: '10.0.0.2', port: 6881, family: 4, flags: PexFlag.seed }], dropped: [] })
 */
export function encodeUtPex(msg: UtPexMessage): Uint8Array {
  if (msg.added.length > PEX_MAX_ADDED)
    throw new UtPexError('BT_ERR_UT_PEX_TOO_MANY', `${msg.added.length} added peers, at most ${PEX_MAX_ADDED}`);
  if (msg.dropped.length > PEX_MAX_DROPPED)
    throw new UtPexError('BT_ERR_UT_PEX_TOO_MANY', `${msg.dropped.length} dropped peers, at most ${PEX_MAX_DROPPED}`);
  const seen = new Set<string>();
  /** Checks a peer; returns its family as its address says (IPv4-mapped text is IPv4). */
  const once = (p: PeerAddress): 4 | 6 => {
    const ip = normaliseHost(p.host);
    if (!ip) throw new UtPexError('BT_ERR_UT_PEX_ADDRESS', `${p.host} is not an IP address`);
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 0xffff)
      throw new UtPexError('BT_ERR_UT_PEX_ADDRESS', `port ${String(p.port)} of ${p.host} is not in 1..65535`);
    const key = peerKey(p);
    if (seen.has(key)) throw new UtPexError('BT_ERR_UT_PEX_CONFLICT', `${key} is listed twice`);
    seen.add(key);
    return ip.family;
  };
  const added4: PexPeer[] = [];
  const added6: PexPeer[] = [];
  for (const p of msg.added) {
    const family = once(p);
    if (!Number.isInteger(p.flags) || p.flags < 0 || p.flags > 0xff)
      throw new UtPexError('BT_ERR_UT_PEX_FLAGS', `flags ${String(p.flags)} of ${p.host} are not a byte`);
    (family === 4 ? added4 : added6).push(p);
  }
  const dropped4: PeerAddress[] = [];
  const dropped6: PeerAddress[] = [];
  for (const p of msg.dropped) {
    (once(p) === 4 ? dropped4 : dropped6).push(p);
  }
  const dict: Partial<Record<Key, Uint8Array>> = {};
  try {
    if (added4.length > 0) {
      dict.added = encodeCompactPeers4(added4);
      dict['added.f'] = Uint8Array.from(added4, (p) => p.flags);
    }
    if (added6.length > 0) {
      dict.added6 = encodeCompactPeers6(added6);
      dict['added6.f'] = Uint8Array.from(added6, (p) => p.flags);
    }
    if (dropped4.length > 0) dict.dropped = encodeCompactPeers4(dropped4);
    if (dropped6.length > 0) dict.dropped6 = encodeCompactPeers6(dropped6);
  } catch (err) {
    throw new UtPexError('BT_ERR_UT_PEX_ADDRESS', (err as Error).message);
  }
  return encodeBencode(dict);
}

const bad = (message: string) => new UtPexError('BT_ERR_UT_PEX_MESSAGE', message);

function bytesOf(dict: BencodeDict, key: Key): Uint8Array | undefined {
  const v = get(dict, key);
  if (v === undefined) return undefined;
  if (!isBytes(v)) throw bad(`${key} is not a byte string`);
  return v;
}

/** Entries of a compact list (port-0 entries, which nobody can reach, dropped), with their index. */
function entries(bytes: Uint8Array | undefined, key: Key, size: number): { peer: PeerAddress; i: number }[] {
  if (bytes === undefined) return [];
  if (bytes.length % size !== 0)
    throw new UtPexError('BT_ERR_UT_PEX_LENGTH', `${key}: ${bytes.length} bytes is not a multiple of ${size}`);
  const decode = size === COMPACT_PEER4_LENGTH ? decodeCompactPeers4 : decodeCompactPeers6;
  const out: { peer: PeerAddress; i: number }[] = [];
  for (let i = 0; i * size < bytes.length; i++) {
    const [peer] = decode(bytes.subarray(i * size, (i + 1) * size));
    if (peer) out.push({ peer, i });
  }
  return out;
}

function flagsFor(
  flags: Uint8Array | undefined,
  list: Uint8Array | undefined,
  key: Key,
  size: number,
): Uint8Array | undefined {
  if (flags === undefined) return undefined;
  const count = (list?.length ?? 0) / size;
  if (flags.length !== count)
    throw new UtPexError('BT_ERR_UT_PEX_FLAGS', `${key}: ${flags.length} flag bytes for ${count} peers`);
  return flags;
}

/**
 * Decodes a `ut_pex` payload. Unknown keys are ignored (BEP 10 dictionaries are extensible); peers
 * listed twice in one list are kept once; IPv4-mapped IPv6 entries come back as IPv4 peers.
 *
 * @example
 * const { added } = decodeUtPex(payload);
 * for (const p of added) peerBook.add(p, 'pex');
 */
export function decodeUtPex(payload: Uint8Array, limits: UtPexLimits = {}): UtPexDecoded {
  const maxAdded = limits.maxAdded ?? PEX_DECODE_MAX_ENTRIES;
  const maxDropped = limits.maxDropped ?? PEX_DECODE_MAX_ENTRIES;
  let dict: BencodeDict;
  try {
    const { value } = decodeBencode(payload, { maxDepth: 4 });
    if (!isDict(value)) throw bad('not a dictionary');
    dict = value;
  } catch (err) {
    if (err instanceof UtPexError) throw err;
    throw bad((err as Error).message);
  }
  // Checked in this order: types, then list lengths, then flags, then conflicts.
  const a4 = bytesOf(dict, 'added');
  const f4Bytes = bytesOf(dict, 'added.f');
  const a6 = bytesOf(dict, 'added6');
  const f6Bytes = bytesOf(dict, 'added6.f');
  const d4 = bytesOf(dict, 'dropped');
  const d6 = bytesOf(dict, 'dropped6');
  const added4 = entries(a4, 'added', COMPACT_PEER4_LENGTH);
  const added6 = entries(a6, 'added6', COMPACT_PEER6_LENGTH);
  const dropped4 = entries(d4, 'dropped', COMPACT_PEER4_LENGTH);
  const dropped6 = entries(d6, 'dropped6', COMPACT_PEER6_LENGTH);
  const f4 = flagsFor(f4Bytes, a4, 'added.f', COMPACT_PEER4_LENGTH);
  const f6 = flagsFor(f6Bytes, a6, 'added6.f', COMPACT_PEER6_LENGTH);

  const added: PexPeer[] = [];
  const dropped: PeerAddress[] = [];
  const addedKeys = new Set<string>();
  const droppedKeys = new Set<string>();
  let skipped = 0;
  const add = (list: { peer: PeerAddress; i: number }[], flags: Uint8Array | undefined): void => {
    for (const { peer, i } of list) {
      const key = peerKey(peer);
      if (addedKeys.has(key)) continue;
      addedKeys.add(key);
      if (added.length < maxAdded) added.push({ ...peer, flags: flags?.[i] ?? 0 });
      else skipped++;
    }
  };
  add(added4, f4);
  add(added6, f6);
  for (const { peer } of [...dropped4, ...dropped6]) {
    const key = peerKey(peer);
    if (addedKeys.has(key)) throw new UtPexError('BT_ERR_UT_PEX_CONFLICT', `${key} is both added and dropped`);
    if (droppedKeys.has(key)) continue;
    droppedKeys.add(key);
    if (dropped.length < maxDropped) dropped.push(peer);
    else skipped++;
  }
  return { added, dropped, skipped };
}
