/**
 * A .torrent file around an info dictionary fetched over BEP 9: the info dictionary's bytes exactly as
 * they hashed to the info hash, with the magnet link's trackers (`announce`, `announce-list`), and for
 * BEP 52 the `piece layers` fetched from peers. Pure.
 */
import { encodeBencode } from './bencode.js';

/**
 * Bencodes `{announce, announce-list, info, piece layers}` with `info` copied byte for byte (re-encoding
 * it could change its hash). Keys come in bencode's sorted order (`piece layers`' roots too); `piece
 * layers` only when `pieceLayers` is given and not empty.
 *
 * @example parseMetainfo(torrentFileOf(infoBytes, [['udp://tracker:6969']])).infoHash // = sha1(infoBytes)
 */
export function torrentFileOf(
  infoBytes: Uint8Array,
  tiers: readonly (readonly string[])[],
  pieceLayers: readonly { root: Uint8Array; layer: Uint8Array }[] = [],
): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(0x64)]; // d
  const text = (s: string) => new TextEncoder().encode(s);
  const tracked = tiers.filter((t) => t.length > 0);
  if (tracked.length > 0) {
    parts.push(text('8:announce'), encodeBencode(tracked[0]![0]!));
    parts.push(text('13:announce-list'), encodeBencode(tracked.map((t) => [...t])));
  }
  parts.push(text('4:info'), infoBytes);
  if (pieceLayers.length > 0) {
    const sorted = [...pieceLayers].sort((a, b) => compareBytes(a.root, b.root));
    parts.push(text('12:piece layers'), Uint8Array.of(0x64));
    for (const { root, layer } of sorted) parts.push(text(`${root.length}:`), root, text(`${layer.length}:`), layer);
    parts.push(Uint8Array.of(0x65));
  }
  parts.push(Uint8Array.of(0x65)); // e
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
