/**
 * Peer ids (BEP 20 conventions): ours is Azureus-style `-BA0100-` followed by 12 random printable
 * characters; `clientName` turns a peer's id into a client name for display.
 */

/** Our client code and version in peer ids: `-BA` (bt-actor) + version digits. */
export const PEER_ID_PREFIX = '-BA0100-';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A fresh 20-byte peer id. `randomBytes` supplies 12 random bytes (node:crypto's in the app). */
export function generatePeerId(randomBytes: (n: number) => Uint8Array): Uint8Array {
  const id = new Uint8Array(20);
  for (let i = 0; i < 8; i++) id[i] = PEER_ID_PREFIX.charCodeAt(i);
  const rnd = randomBytes(12);
  for (let i = 0; i < 12; i++) id[8 + i] = ALPHABET.charCodeAt(rnd[i]! % ALPHABET.length);
  return id;
}

const AZUREUS: Record<string, string> = {
  BA: 'bt-actor',
  TR: 'Transmission',
  LT: 'libtorrent (Rasterbar)',
  lt: 'libTorrent (rakshasa)',
  qB: 'qBittorrent',
  DE: 'Deluge',
  UT: 'µTorrent',
  WW: 'WebTorrent',
  WD: 'WebTorrent Desktop',
  AZ: 'Vuze',
  BT: 'BitTorrent',
  KT: 'KTorrent',
};

/** A display name for a peer id: `Transmission 3.00`, `aria2 1.36.0`, or the id's printable prefix. */
export function clientName(peerId: Uint8Array): string {
  const s = String.fromCharCode(...peerId);
  const az = /^-([A-Za-z]{2})([0-9A-Za-z]{4})-/.exec(s);
  if (az) {
    const name = AZUREUS[az[1]!] ?? az[1]!;
    const v = az[2]!;
    if (az[1] === 'TR') return `${name} ${v[0]}.${v.slice(1, 3)}`;
    return `${name} ${[...v]
      .map((c) => (/[0-9]/.test(c) ? c : String(c.charCodeAt(0) - 55)))
      .join('.')
      .replace(/(\.0)+$/, '')}`;
  }
  const aria = /^A2-(\d+)-(\d+)-(\d+)-/.exec(s);
  if (aria) return `aria2 ${aria[1]}.${aria[2]}.${aria[3]}`;
  return s.slice(0, 8).replace(/[^\x20-\x7e]/g, '.');
}
