/**
 * BEP 6 allowed-fast sets: the pieces a peer may download from us while we choke it, derived from its
 * IP address and the info hash so that every connection from one /24 network gets the same set (a peer
 * cannot collect a torrent by reconnecting from many addresses of its network).
 *
 * Pure: a function of its arguments (SHA-1 through src/protocol/sha1.ts).
 *
 * @example
 * ```ts
 * allowedFastSet('80.4.4.200', infoHash, 1313, 7); // BEP 6's example: [1059, 431, 808, 1217, 287, 376, 1188]
 * ```
 */
import { isIPv4Mapped, parseIp } from './peer-address.js';
import { sha1 } from './sha1.js';

/** How many pieces we allow a choked peer (libtorrent's `allowed_fast_set_size` is 5; BEP 6 suggests 10). */
export const ALLOWED_FAST_SET_SIZE = 10;

/**
 * The network part of an address that seeds the set: BEP 6 masks IPv4 to its /24 (`ip & 0xffffff00`, 4
 * bytes); an IPv4-mapped IPv6 address counts as its IPv4 address. BEP 6 gives no rule for IPv6: we use
 * its /48 (6 bytes, the usual site prefix), so one site gets one set. Undefined for text that is no IP.
 */
export function allowedFastSeed(ip: string): Uint8Array | undefined {
  const parsed = parseIp(ip);
  if (!parsed) return undefined;
  const b = parsed.bytes;
  if (parsed.family === 4) return Uint8Array.of(b[0]!, b[1]!, b[2]!, 0);
  if (isIPv4Mapped(b)) return Uint8Array.of(b[12]!, b[13]!, b[14]!, 0);
  return b.slice(0, 6);
}

/**
 * BEP 6's canonical allowed-fast set: `k` distinct piece indexes (all pieces when `k ≥ pieceCount`), in
 * the order the algorithm finds them. `x` = masked IP ‖ info hash; repeatedly `x = SHA1(x)` and each of
 * its five big-endian 32-bit words, modulo the piece count, adds an index not yet in the set.
 * Empty for an address that is not an IP, a torrent without pieces, or `k ≤ 0`.
 */
export function allowedFastSet(ip: string, infoHash: Uint8Array, pieceCount: number, k: number): number[] {
  const seed = allowedFastSeed(ip);
  if (!seed || pieceCount <= 0 || k <= 0) return [];
  if (k >= pieceCount) return Array.from({ length: pieceCount }, (_, i) => i);
  const out: number[] = [];
  const seen = new Set<number>();
  let x: Uint8Array = new Uint8Array(seed.length + infoHash.length);
  x.set(seed);
  x.set(infoHash, seed.length);
  while (out.length < k) {
    x = sha1(x);
    const view = new DataView(x.buffer, x.byteOffset, x.byteLength);
    for (let i = 0; i < 5 && out.length < k; i++) {
      const index = view.getUint32(i * 4) % pieceCount;
      if (seen.has(index)) continue;
      seen.add(index);
      out.push(index);
    }
  }
  return out;
}
