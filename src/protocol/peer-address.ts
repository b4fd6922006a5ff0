/**
 * Peer addresses and the compact peer formats shared by trackers and PEX:
 * IPv4 entries of 6 bytes (BEP 23: 4-byte address, 2-byte port, network order) and IPv6 entries
 * of 18 bytes (BEP 7: 16-byte address, 2-byte port).
 *
 * Host text is always normalised: IPv4 as a dotted quad without leading zeros, IPv6 in the RFC 5952
 * form (lowercase, leading zeros dropped, the longest run of two or more zero groups written `::`).
 * An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 peer `a.b.c.d` (family 4): that is the
 * host it reaches, and it de-duplicates against the same peer learned over IPv4.
 *
 * Entries with port 0 are dropped when decoding: nobody can connect to them, and trackers use them
 * as padding or placeholders.
 */
import { BtError } from './errors.js';

/** A peer as trackers, PEX and the DHT report it. */
export interface PeerAddress {
  /** Normalised address text: `1.2.3.4` or `2001:db8::1` (no brackets, no zone). */
  host: string;
  /** TCP port, 1..65535. */
  port: number;
  family: 4 | 6;
  /** The peer's 20-byte id, when the tracker sent it (dictionary-model replies only). */
  peerId?: Uint8Array;
  /**
   * BEP 52: learnt only from a lookup under a hybrid torrent's truncated v2 hash (a tracker's or the DHT's
   * reply to it): such a peer may know the torrent by that hash alone, so it is dialled with it.
   */
  viaV2?: true;
}

export type PeerAddressErrorCode = 'BT_ERR_PEERS_LENGTH' | 'BT_ERR_PEER_ADDRESS';

export class PeerAddressError extends BtError {
  override readonly name = 'PeerAddressError';
  constructor(
    override readonly code: PeerAddressErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

/** Size of one compact IPv4 entry (BEP 23). */
export const COMPACT_PEER4_LENGTH = 6;
/** Size of one compact IPv6 entry (BEP 7). */
export const COMPACT_PEER6_LENGTH = 18;

/** A parsed IP address: 4 or 16 bytes in network order. */
export interface ParsedIp {
  family: 4 | 6;
  bytes: Uint8Array;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Strict dotted quad: four decimal parts 0..255, no leading zeros (they would read as octal elsewhere). */
function parseIPv4Bytes(text: string): Uint8Array | null {
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e; // the end closes the last part like a dot
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return null;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return null;
      value = value * 10 + c - 0x30;
      digits++;
      if (value > 255) return null;
    } else {
      return null;
    }
  }
  return part === 4 ? out : null;
}

function parseIPv6Bytes(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (half: string): string[] | null => (half === '' ? [] : half.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  // An embedded IPv4 address may only be the last piece.
  const words: number[] = [];
  const all = halves.length === 2 ? [...head, '::', ...tail] : head;
  for (let i = 0; i < all.length; i++) {
    const g = all[i]!;
    if (g === '::') {
      words.push(-1);
    } else if (HEX_GROUP.test(g)) {
      words.push(parseInt(g, 16));
    } else if (i === all.length - 1 && g.includes('.')) {
      const v4 = parseIPv4Bytes(g);
      if (!v4) return null;
      words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else {
      return null;
    }
  }
  const explicit = words.filter((w) => w >= 0).length;
  if (halves.length === 2 ? explicit > 7 : explicit !== 8) return null;
  const out = new Uint8Array(16);
  let j = 0;
  for (const w of words) {
    if (w < 0) {
      j += (8 - explicit) * 2;
    } else {
      out[j++] = w >> 8;
      out[j++] = w & 0xff;
    }
  }
  return out;
}

/**
 * Parses IPv4 dotted-quad or IPv6 text (optionally in brackets) into bytes; returns null for anything
 * else (DNS names, zone ids, leading zeros in IPv4 parts). IPv4-mapped IPv6 text stays family 6 here;
 * {@link normaliseHost} folds it to IPv4.
 *
 * @example parseIp('::1') // { family: 6, bytes: Uint8Array(16) [0, …, 1] }
 */
export function parseIp(host: string): ParsedIp | null {
  let h = host;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (!h.includes(':')) {
    const v4 = parseIPv4Bytes(h);
    return v4 ? { family: 4, bytes: v4 } : null;
  }
  const v6 = parseIPv6Bytes(h);
  return v6 ? { family: 6, bytes: v6 } : null;
}

/** Formats 4 bytes as a dotted quad. */
export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** True when the 16 bytes at `offset` are an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
export function isIPv4Mapped(bytes: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < 10; i++) if (bytes[offset + i] !== 0) return false;
  return bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff;
}

/**
 * Formats 16 bytes as RFC 5952 IPv6 text: lowercase, no leading zeros, the first longest run of at
 * least two zero groups compressed to `::`.
 *
 * @example formatIPv6(new Uint8Array(16).fill(0, 0, 15).fill(1, 15)) // '::1'
 */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 1; // a single zero group is not compressed
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** Formats a 16-byte address the way peers are reported: IPv4-mapped becomes IPv4. */
function hostOf16(bytes: Uint8Array, offset: number): { host: string; family: 4 | 6 } {
  return isIPv4Mapped(bytes, offset)
    ? { host: formatIPv4(bytes, offset + 12), family: 4 }
    : { host: formatIPv6(bytes, offset), family: 6 };
}

/**
 * Normalises an IP address text (see the module comment); returns null when `host` is not an IP
 * address.
 *
 * @example normaliseHost('2001:DB8:0:0::1') // { host: '2001:db8::1', family: 6 }
 * @example normaliseHost('::ffff:10.0.0.1') // { host: '10.0.0.1', family: 4 }
 */
export function normaliseHost(host: string): { host: string; family: 4 | 6 } | null {
  const ip = parseIp(host);
  if (!ip) return null;
  return ip.family === 4 ? { host: formatIPv4(ip.bytes), family: 4 } : hostOf16(ip.bytes, 0);
}

/**
 * A stable key for de-duplicating peers: `1.2.3.4:6881` or `[2001:db8::1]:6881`. The host is
 * normalised first, so `::ffff:1.2.3.4` and `1.2.3.4` give the same key. A host that is not an IP
 * address is keyed by its lowercase text.
 */
export function peerKey(addr: Pick<PeerAddress, 'host' | 'port'>): string {
  const n = normaliseHost(addr.host);
  if (!n) return `${addr.host.toLowerCase()}:${addr.port}`;
  return n.family === 4 ? `${n.host}:${addr.port}` : `[${n.host}]:${addr.port}`;
}

/**
 * Decodes a BEP 23 compact IPv4 peer list. Throws `BT_ERR_PEERS_LENGTH` when the length is not a
 * multiple of 6; entries with port 0 are dropped.
 *
 * @example decodeCompactPeers4(Uint8Array.of(10, 0, 0, 1, 0x1a, 0xe1)) // [{ host: '10.0.0.1', port: 6881, family: 4 }]
 */
export function decodeCompactPeers4(bytes: Uint8Array): PeerAddress[] {
  if (bytes.length % COMPACT_PEER4_LENGTH !== 0) {
    throw new PeerAddressError(
      'BT_ERR_PEERS_LENGTH',
      `compact IPv4 peers: ${bytes.length} bytes is not a multiple of 6`,
    );
  }
  const peers: PeerAddress[] = [];
  for (let o = 0; o < bytes.length; o += COMPACT_PEER4_LENGTH) {
    const port = (bytes[o + 4]! << 8) | bytes[o + 5]!;
    if (port === 0) continue;
    peers.push({ host: formatIPv4(bytes, o), port, family: 4 });
  }
  return peers;
}

/**
 * Decodes a BEP 7 compact IPv6 peer list. Throws `BT_ERR_PEERS_LENGTH` when the length is not a
 * multiple of 18; entries with port 0 are dropped; IPv4-mapped entries come back as family 4.
 */
export function decodeCompactPeers6(bytes: Uint8Array): PeerAddress[] {
  if (bytes.length % COMPACT_PEER6_LENGTH !== 0) {
    throw new PeerAddressError(
      'BT_ERR_PEERS_LENGTH',
      `compact IPv6 peers: ${bytes.length} bytes is not a multiple of 18`,
    );
  }
  const peers: PeerAddress[] = [];
  for (let o = 0; o < bytes.length; o += COMPACT_PEER6_LENGTH) {
    const port = (bytes[o + 16]! << 8) | bytes[o + 17]!;
    if (port === 0) continue;
    peers.push({ ...hostOf16(bytes, o), port });
  }
  return peers;
}

function checkPort(peer: PeerAddress): number {
  const { port } = peer;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new PeerAddressError('BT_ERR_PEER_ADDRESS', `port ${String(port)} of ${peer.host} is not in 0..65535`);
  }
  return port;
}

/**
 * Encodes peers as a BEP 23 compact IPv4 list. Every host must be IPv4 text (or IPv4-mapped IPv6
 * text); otherwise throws `BT_ERR_PEER_ADDRESS`. `peerId` is not part of the format and is dropped.
 */
export function encodeCompactPeers4(peers: readonly PeerAddress[]): Uint8Array {
  const out = new Uint8Array(peers.length * COMPACT_PEER4_LENGTH);
  peers.forEach((peer, i) => {
    const ip = parseIp(peer.host);
    let v4: Uint8Array | null = null;
    if (ip?.family === 4) v4 = ip.bytes;
    else if (ip && isIPv4Mapped(ip.bytes)) v4 = ip.bytes.subarray(12);
    if (!v4) throw new PeerAddressError('BT_ERR_PEER_ADDRESS', `${peer.host} is not an IPv4 address`);
    const port = checkPort(peer);
    const o = i * COMPACT_PEER4_LENGTH;
    out.set(v4, o);
    out[o + 4] = port >> 8;
    out[o + 5] = port & 0xff;
  });
  return out;
}

/**
 * Encodes peers as a BEP 7 compact IPv6 list. IPv4 hosts are written IPv4-mapped (`::ffff:a.b.c.d`),
 * which {@link decodeCompactPeers6} turns back into IPv4 peers. Throws `BT_ERR_PEER_ADDRESS` for a
 * host that is not an IP address or a port outside 0..65535.
 */
export function encodeCompactPeers6(peers: readonly PeerAddress[]): Uint8Array {
  const out = new Uint8Array(peers.length * COMPACT_PEER6_LENGTH);
  peers.forEach((peer, i) => {
    const ip = parseIp(peer.host);
    if (!ip) throw new PeerAddressError('BT_ERR_PEER_ADDRESS', `${peer.host} is not an IP address`);
    const port = checkPort(peer);
    const o = i * COMPACT_PEER6_LENGTH;
    if (ip.family === 4) {
      out[o + 10] = 0xff;
      out[o + 11] = 0xff;
      out.set(ip.bytes, o + 12);
    } else {
      out.set(ip.bytes, o);
    }
    out[o + 16] = port >> 8;
    out[o + 17] = port & 0xff;
  });
  return out;
}

/** True for 127.0.0.0/8 and ::1 (and IPv4-mapped loopback). */
export function isLoopback(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return v4.startsWith('127.') || ip === '::1';
}
