/**
 * A .torrent file around an info dictionary fetched over BEP 9: the info dictionary's bytes exactly as
 * they hashed to the info hash, with the magnet link's trackers (`announce`, `announce-list`). Pure.
 */
import { encodeBencode } from './bencode.js';

/**
 * Bencodes `{announce, announce-list, info}` with `info` copied byte for byte (re-encoding it could
 * change its hash). Keys come in bencode's sorted order.
 *
 * @example parseMetainfo(torrentFileOf(infoBytes, [['udp://tracker:6969']])).infoHash // = sha1(infoBytes)
 */
export function torrentFileOf(infoBytes: Uint8Array, tiers: readonly (readonly string[])[]): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(0x64)]; // d
  const text = (s: string) => new TextEncoder().encode(s);
  const tracked = tiers.filter((t) => t.length > 0);
  if (tracked.length > 0) {
    parts.push(text('8:announce'), encodeBencode(tracked[0]![0]!));
    parts.push(text('13:announce-list'), encodeBencode(tracked.map((t) => [...t])));
  }
  parts.push(text('4:info'), infoBytes, Uint8Array.of(0x65)); // e
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
