/**
 * DHT node ids (BEP 5): 160-bit ids as 20-byte arrays, the XOR metric, the bucket a node falls in,
 * random ids inside a bucket's range, and BEP 42's binding of a node id to its IP address.
 * Pure: randomness comes from a `() => number` generator the caller owns (`randomFrom` of
 * `src/machines/random.ts` in machines and tests), never `Math.random` here.
 */
import { parseIp } from '../../protocol/peer-address.js';

/** Length of a node id, an info hash and a target in bytes (BEP 5: 160 bits). */
export const NODE_ID_LENGTH = 20;
/** Number of bits of an id; the most buckets a table can have. */
export const NODE_ID_BITS = NODE_ID_LENGTH * 8;

/** A 20-byte node id, info hash or lookup target. */
export type NodeId = Uint8Array;

/** A node as it is reached: its id and UDP address (what BEP 5's compact node info carries). */
export interface NodeContact {
  id: NodeId;
  /** Normalised IP text, as `src/protocol/peer-address.ts` writes it. */
  host: string;
  port: number;
}

/** True for a Uint8Array of exactly 20 bytes. */
export function isNodeId(value: unknown): value is NodeId {
  return value instanceof Uint8Array && value.length === NODE_ID_LENGTH;
}

/** Lowercase hex of an id (40 characters): a map key and a readable name. */
export function idToHex(id: NodeId): string {
  let s = '';
  for (let i = 0; i < id.length; i++) s += id[i]!.toString(16).padStart(2, '0');
  return s;
}

/** Parses 40 hex digits into an id; null for anything else. */
export function idFromHex(hex: string): NodeId | null {
  if (!/^[0-9a-fA-F]{40}$/.test(hex)) return null;
  const id = new Uint8Array(NODE_ID_LENGTH);
  for (let i = 0; i < NODE_ID_LENGTH; i++) id[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return id;
}

/** True when both ids hold the same bytes. */
export function idEquals(a: NodeId, b: NodeId): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The XOR distance of two ids as a new 20-byte array (compare distances with
 * {@link compareDistance}, which allocates nothing).
 *
 * @example xorDistance(a, a) // 20 zero bytes
 */
export function xorDistance(a: NodeId, b: NodeId): Uint8Array {
  const d = new Uint8Array(NODE_ID_LENGTH);
  for (let i = 0; i < NODE_ID_LENGTH; i++) d[i] = a[i]! ^ b[i]!;
  return d;
}

/** Compares two ids (or distances) as unsigned 160-bit numbers: negative, 0 or positive. */
export function compareIds(a: NodeId, b: NodeId): number {
  for (let i = 0; i < NODE_ID_LENGTH; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Which of `a` and `b` is closer to `target` in the XOR metric: negative when `a` is closer, positive
 * when `b` is, 0 when they are the same id.
 *
 * @example [b, a].sort((x, y) => compareDistance(target, x, y)) // closest first
 */
export function compareDistance(target: NodeId, a: NodeId, b: NodeId): number {
  for (let i = 0; i < NODE_ID_LENGTH; i++) {
    const t = target[i]!;
    const d = (a[i]! ^ t) - (b[i]! ^ t);
    if (d !== 0) return d;
  }
  return 0;
}

/** The number of leading bits `a` and `b` share (0..160; 160 when they are equal). */
export function commonPrefixBits(a: NodeId, b: NodeId): number {
  for (let i = 0; i < NODE_ID_LENGTH; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return NODE_ID_BITS;
}

/**
 * The bucket `id` falls in, in a table of `bucketCount` buckets split on `ownId` (see
 * routing-table.ts): bucket i < last holds the ids sharing exactly i leading bits with ours, the last
 * one every id sharing at least `bucketCount − 1`.
 */
export function bucketIndexOf(ownId: NodeId, id: NodeId, bucketCount: number): number {
  return Math.min(commonPrefixBits(ownId, id), bucketCount - 1);
}

/** A random id from `random` (each call gives a number in [0, 1)). */
export function randomId(random: () => number): NodeId {
  const id = new Uint8Array(NODE_ID_LENGTH);
  for (let i = 0; i < NODE_ID_LENGTH; i++) id[i] = Math.floor(random() * 256) & 0xff;
  return id;
}

/**
 * A random id sharing exactly `prefixBits` leading bits with `ownId` (its next bit differs), or, with
 * `atLeast`, sharing at least that many (the range of a table's last bucket). The target of a bucket
 * refresh.
 *
 * @example commonPrefixBits(own, randomIdInRange(own, 5, false, rnd)) // 5
 */
export function randomIdInRange(ownId: NodeId, prefixBits: number, atLeast: boolean, random: () => number): NodeId {
  if (!Number.isInteger(prefixBits) || prefixBits < 0 || prefixBits > NODE_ID_BITS) {
    throw new RangeError(`prefix of ${prefixBits} bits is not in 0..${NODE_ID_BITS}`);
  }
  if (!atLeast && prefixBits === NODE_ID_BITS) throw new RangeError('no id differs after all 160 bits');
  const id = randomId(random);
  for (let bit = 0; bit < prefixBits; bit++) setBit(id, bit, getBit(ownId, bit));
  if (!atLeast) setBit(id, prefixBits, getBit(ownId, prefixBits) ^ 1);
  return id;
}

function getBit(id: NodeId, bit: number): number {
  return (id[bit >> 3]! >> (7 - (bit & 7))) & 1;
}

function setBit(id: NodeId, bit: number, value: number): void {
  const mask = 0x80 >> (bit & 7);
  id[bit >> 3] = value ? id[bit >> 3]! | mask : id[bit >> 3]! & ~mask;
}

// ---- BEP 42: DHT security extension -------------------------------------------------------------

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1; // Castagnoli, reflected
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), the checksum BEP 42 uses. `crc32c(bytes of '123456789') === 0xe3069283`. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** BEP 42: the bits of each address byte that enter the checksum. */
const V4_MASK = [0x03, 0x0f, 0x3f, 0xff];
const V6_MASK = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];

/** 4 bytes for IPv4 (IPv4-mapped IPv6 folded to IPv4), 16 for IPv6; null when `ip` is not an IP address. */
function ipBytes(ip: string | Uint8Array): Uint8Array | null {
  let bytes: Uint8Array;
  if (typeof ip === 'string') {
    const parsed = parseIp(ip);
    if (!parsed) return null;
    bytes = parsed.bytes;
  } else {
    if (ip.length !== 4 && ip.length !== 16) return null;
    bytes = ip;
  }
  if (bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return bytes.subarray(12);
  }
  return bytes;
}

/**
 * The checksum BEP 42 binds to an address: crc32c of the masked address bytes (the first 8 of an
 * IPv6 address) with the low 3 bits of `r` in the top 3 bits of the first byte.
 */
function bep42Crc(bytes: Uint8Array, r: number): number {
  const mask = bytes.length === 4 ? V4_MASK : V6_MASK;
  const buf = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) buf[i] = bytes[i]! & mask[i]!;
  buf[0] = buf[0]! | ((r & 7) << 5);
  return crc32c(buf);
}

/**
 * BEP 42: a node id for a node reachable at `ip`: its first 21 bits come from the checksum of the
 * address and `r`, its last byte is `r`, the rest is random. Throws a RangeError when `ip` is not an IP
 * address.
 *
 * @example bep42NodeId('124.31.75.21', 1, rnd) // 5fbfbX…01 (X: the top 5 bits of 0xbf)
 */
export function bep42NodeId(ip: string | Uint8Array, r: number, random: () => number): NodeId {
  const bytes = ipBytes(ip);
  if (!bytes) throw new RangeError(`${String(ip)} is not an IP address`);
  const crc = bep42Crc(bytes, r);
  const id = randomId(random);
  id[0] = (crc >>> 24) & 0xff;
  id[1] = (crc >>> 16) & 0xff;
  id[2] = ((crc >>> 8) & 0xf8) | (id[2]! & 0x07);
  id[19] = r & 0xff;
  return id;
}

/**
 * BEP 42: the addresses exempt from the check — IPv4 10/8, 172.16/12, 192.168/16, 169.254/16, 127/8
 * (the BEP's list), and their IPv6 counterparts ::1, fe80::/10 and fc00::/7. A node there cannot know
 * its public address, and loopback tests run there.
 */
export function bep42Exempt(ip: string | Uint8Array): boolean {
  const b = ipBytes(ip);
  if (!b) return false;
  if (b.length === 4) {
    return (
      b[0] === 10 ||
      b[0] === 127 ||
      (b[0] === 172 && (b[1]! & 0xf0) === 16) ||
      (b[0] === 192 && b[1] === 168) ||
      (b[0] === 169 && b[1] === 254)
    );
  }
  const loopback = b.subarray(0, 15).every((x) => x === 0) && b[15] === 1;
  return loopback || (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) || (b[0]! & 0xfe) === 0xfc;
}

/**
 * BEP 42: true when `id` may belong to a node at `ip` — its first 21 bits match the checksum of the
 * address with `r` = its last byte — or when `ip` is exempt ({@link bep42Exempt}). False for an `ip`
 * that is not an IP address.
 *
 * @example bep42Valid(idFromHex('5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401')!, '124.31.75.21') // true
 */
export function bep42Valid(id: NodeId, ip: string | Uint8Array): boolean {
  const bytes = ipBytes(ip);
  if (!bytes || !isNodeId(id)) return false;
  if (bep42Exempt(bytes)) return true;
  const crc = bep42Crc(bytes, id[19]!);
  return id[0] === ((crc >>> 24) & 0xff) && id[1] === ((crc >>> 16) & 0xff) && (id[2]! & 0xf8) === ((crc >>> 8) & 0xf8);
}
