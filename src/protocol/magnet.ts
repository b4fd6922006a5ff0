/**
 * Magnet links (BEP 9, with BEP 19 web seeds): `magnet:?xt=urn:btih:<hash>&dn=<name>&tr=<tracker>…`.
 *
 * Pure and bounded: a link longer than {@link MAX_MAGNET_LENGTH} characters is refused before it is
 * read; at most {@link MAX_MAGNET_ENTRIES} trackers, web seeds and peers are kept (the rest are listed in
 * `ignored`). Anything wrong is a {@link MagnetError} (a {@link BtError}) whose code names the fault,
 * never another exception.
 *
 * One reading only: a link that says two different things (two different info hashes, names or
 * lengths) is refused, and so is text whose escapes could be read several ways (`%` not followed by
 * two hex digits, escapes that are not UTF-8, a raw `#`, control characters). `+` in a value is a
 * space (as browsers and libtorrent write it); {@link formatMagnet} writes `+` as `%2B`.
 *
 * Hints that are well-formed but that bt-actor cannot use — a tracker that is not http/https/udp, a
 * malformed peer address, an unknown parameter — are not errors: they are listed in `ignored` with the
 * reason. A BitTorrent v2 hash (BEP 52 `urn:btmh:`, multihash `1220` + SHA-256) is read: a hybrid link
 * (btih and btmh) is downloaded through its v1 hash; a v2-only link is refused unless the caller
 * asks for it (`info` shows it; downloading it is not supported yet).
 */
import { strictText } from './bencode.js';
import { toHex } from './bytes.js';
import { BtError } from './errors.js';
import { normaliseHost, parseIp } from './peer-address.js';

/** A peer named by `x.pe`: an IP address (normalised, no brackets) or a lowercase host name. */
export interface MagnetPeer {
  host: string;
  /** TCP port, 1..65535. */
  port: number;
}

/** A parameter bt-actor does not use, with the reason. */
export interface MagnetIgnored {
  /** The parameter's name as written (`tr`, `tr.2`, `xt`, `so`, …). */
  key: string;
  /** Its decoded value, cut to {@link MAX_IGNORED_VALUE} characters. */
  value: string;
  reason: string;
}

/** What a magnet link says. */
export interface MagnetLink {
  /** The 20-byte BitTorrent v1 info hash (SHA-1 of the info dictionary). */
  infoHash: Uint8Array;
  /** The same, as 40 lowercase hex digits. */
  infoHashHex: string;
  /** BEP 52: the 32-byte v2 info hash (SHA-256) of `xt=urn:btmh:1220…`, when the link gives one. */
  infoHashV2?: Uint8Array;
  /** {@link infoHashV2} as 64 lowercase hex digits. */
  infoHashV2Hex?: string;
  /**
   * True for a link with only a v2 hash (read with `{ v2Only: true }`): {@link infoHash} is then the v2
   * hash cut to 20 bytes, as BEP 52 handshakes carry it. bt-actor cannot download such a link yet.
   */
  v2Only?: true;
  /** `dn`: a display name, until the metadata says the real one. */
  name?: string;
  /** `xl`: the total size in bytes, when the link says it. */
  exactLength?: number;
  /** Every `tr` (and `tr.1`, `tr.2` …) with an http, https or udp URL, de-duplicated, in order. */
  trackers: string[];
  /** Every `ws` (BEP 19) with an http or https URL, de-duplicated, in order. */
  webSeeds: string[];
  /** Every `x.pe` peer address, de-duplicated, in order. Host names are left for the caller to resolve. */
  peers: MagnetPeer[];
  /** What was read but not kept, and why (at most {@link MAX_MAGNET_ENTRIES} entries). */
  ignored: MagnetIgnored[];
}

/**
 * BEP 52: a hybrid link's (both `urn:btih:` and `urn:btmh:`) v2 hash cut to 20 bytes, as handshakes,
 * trackers and the DHT carry it; undefined for a v1-only or a v2-only link (whose `infoHash` is already
 * that hash).
 *
 * @example
 * magnetHybridV2Hash(parseMagnet('magnet:?xt=urn:btih:…&xt=urn:btmh:1220…')); // Uint8Array(20)
 */
export function magnetHybridV2Hash(link: Pick<MagnetLink, 'infoHashV2' | 'v2Only'>): Uint8Array | undefined {
  return link.infoHashV2 && !link.v2Only ? link.infoHashV2.slice(0, 20) : undefined;
}

/** What {@link formatMagnet} writes: a link without its derived and ignored parts. */
export interface MagnetLinkInput {
  infoHash: Uint8Array;
  /** Written as `xt=urn:btmh:1220…` after the v1 hash (a hybrid torrent). */
  infoHashV2?: Uint8Array;
  name?: string;
  exactLength?: number;
  trackers?: readonly string[];
  webSeeds?: readonly string[];
  peers?: readonly MagnetPeer[];
}

export type MagnetErrorCode =
  | 'BT_ERR_MAGNET_SCHEME'
  | 'BT_ERR_MAGNET_LIMIT'
  | 'BT_ERR_MAGNET_ENCODING'
  | 'BT_ERR_MAGNET_NO_HASH'
  | 'BT_ERR_MAGNET_HASH'
  | 'BT_ERR_MAGNET_V2'
  | 'BT_ERR_MAGNET_AMBIGUOUS';

export class MagnetError extends BtError {
  override readonly name = 'MagnetError';
  constructor(
    override readonly code: MagnetErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

/** Longest magnet link read, in characters (64 KiB). */
export const MAX_MAGNET_LENGTH = 64 * 1024;
/** Most trackers, most web seeds, most peers and most ignored entries kept from one link. */
export const MAX_MAGNET_ENTRIES = 100;
/** Longest `dn` kept, in UTF-8 bytes; a longer name is ignored. */
export const MAX_MAGNET_NAME_BYTES = 1024;
/** Longest tracker or web seed URL kept, in characters. */
export const MAX_MAGNET_URL_LENGTH = 2048;
/** Longest value quoted in an `ignored` entry. */
export const MAX_IGNORED_VALUE = 200;

const TRACKER_SCHEMES = ['http', 'https', 'udp'] as const;
const WEB_SEED_SCHEMES = ['http', 'https'] as const;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

const fail = (code: MagnetErrorCode, message: string) => new MagnetError(code, `magnet link: ${message}`);
/** A value quoted in a message: JSON-escaped (no terminal controls) and cut short. */
const quote = (s: string): string => JSON.stringify(short(s));
/** Long text (a key `xt.000…`, a value) cut for a message. */
const short = (s: string): string => (s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** `s` cut to MAX_IGNORED_VALUE characters, never between the two halves of a surrogate pair. */
function cut(s: string): string {
  if (s.length <= MAX_IGNORED_VALUE) return s;
  const last = s.charCodeAt(MAX_IGNORED_VALUE - 1);
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? MAX_IGNORED_VALUE - 1 : MAX_IGNORED_VALUE);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * Percent-decodes one key or value (`+` is a space) and reads it as UTF-8; refuses a `%` without two
 * hex digits and bytes that are not UTF-8. `what` names the part in the message.
 */
function decodeComponent(raw: string, what: string): string {
  if (!raw.includes('%')) return raw.replaceAll('+', ' ');
  const bytes: number[] = [];
  for (let i = 0; i < raw.length;) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hi = i + 2 < raw.length ? hexValue(raw.charCodeAt(i + 1)) : -1;
      const lo = hi >= 0 ? hexValue(raw.charCodeAt(i + 2)) : -1;
      if (lo < 0) throw fail('BT_ERR_MAGNET_ENCODING', `${what}: '%' is not followed by two hex digits`);
      bytes.push((hi << 4) | lo);
      i += 3;
    } else if (c < 0x80) {
      bytes.push(c === 0x2b ? 0x20 : c);
      i++;
    } else {
      // A raw non-ASCII character (a pasted IRI): its UTF-8 bytes. The whole link was checked to
      // hold no lone surrogate, so a code point is one or two UTF-16 units.
      const cp = raw.codePointAt(i)!;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b);
      i += cp > 0xffff ? 2 : 1;
    }
  }
  const text = strictText(Uint8Array.from(bytes));
  if (text === null) throw fail('BT_ERR_MAGNET_ENCODING', `${what}: the escapes are not UTF-8 text`);
  return text;
}

/** Refuses characters no reading of a URI allows: controls, a raw `#`, lone surrogates. */
function checkCharacters(uri: string): void {
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) {
      const hex = c.toString(16).toUpperCase().padStart(4, '0');
      throw fail('BT_ERR_MAGNET_ENCODING', `control character U+${hex} at position ${i} (escape it, or remove it)`);
    }
    if (c === 0x23) {
      throw fail('BT_ERR_MAGNET_ENCODING', `a raw '#' at position ${i} (a name holding '#' writes it %23)`);
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < uri.length ? uri.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) throw fail('BT_ERR_MAGNET_ENCODING', `a lone surrogate at position ${i}`);
  }
}

/** The info hash of a `urn:btih:` value: 40 hex digits or 32 base32 characters. */
function readBtih(value: string, fullKey: string): Uint8Array {
  const key = short(fullKey);
  const h = value.slice('urn:btih:'.length);
  if (h.length === 40) {
    const out = new Uint8Array(20);
    for (let i = 0; i < 20; i++) {
      const hi = hexValue(h.charCodeAt(2 * i));
      const lo = hexValue(h.charCodeAt(2 * i + 1));
      if (hi < 0 || lo < 0)
        throw fail('BT_ERR_MAGNET_HASH', `${key}: the 40-character info hash ${quote(h)} is not hexadecimal`);
      out[i] = (hi << 4) | lo;
    }
    return out;
  }
  if (h.length === 32) {
    const out = new Uint8Array(20);
    let acc = 0;
    let bits = 0;
    let o = 0;
    for (let i = 0; i < 32; i++) {
      const v = BASE32.indexOf(h[i]!.toUpperCase());
      if (v < 0)
        throw fail('BT_ERR_MAGNET_HASH', `${key}: the 32-character info hash ${quote(h)} is not base32 (RFC 4648)`);
      acc = ((acc << 5) | v) & 0xffff;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (acc >> bits) & 0xff;
      }
    }
    return out;
  }
  throw fail(
    'BT_ERR_MAGNET_HASH',
    `${key}: an info hash is 40 hex digits or 32 base32 characters, not ${h.length} characters (${quote(h)})`,
  );
}

/** The v2 info hash of a `urn:btmh:` value: the multihash of a SHA-256, `1220` and 64 hex digits (BEP 52). */
function readBtmh(value: string, fullKey: string): Uint8Array {
  const h = value.slice('urn:btmh:'.length);
  if (!/^1220[0-9a-f]{64}$/i.test(h))
    throw fail(
      'BT_ERR_MAGNET_HASH',
      `${short(fullKey)}: a v2 info hash is the multihash 1220 and 64 hex digits (a SHA-256), not ${quote(h)}`,
    );
  return Uint8Array.from(Buffer.from(h.slice(4), 'hex'));
}

const PORT = /^[1-9][0-9]{0,4}$/;
const LABELS = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * A lowercase DNS name: labels of letters, digits and hyphens. A name whose last label is a number
 * (`1.2.3.999`, `0x7f.1`) is not one: URL parsers read it as an IPv4 address.
 */
function isHostName(name: string): boolean {
  return LABELS.test(name) && !/(^|\.)([0-9]+|0x[0-9a-f]*)$/.test(name);
}

/**
 * Null when `url` is a tracker or web seed URL bt-actor can use — `scheme://host[:port][/…]` with a
 * scheme in `schemes`, a host that is an IP address (IPv6 in brackets) or a DNS name, a port in
 * 1..65535 — else the reason it is not. Stricter than the WHATWG URL parser, which also reads
 * `http:x/y`, `http://a\b/` or `http://%41.com/` (two readings of one string).
 */
function checkUrl(url: string, schemes: readonly string[]): string | null {
  if (url.length > MAX_MAGNET_URL_LENGTH) return `longer than ${MAX_MAGNET_URL_LENGTH} characters`;
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(url);
  if (!m) return 'not a URL (scheme://host…)';
  const [, scheme, authority] = m as unknown as [string, string, string];
  if (!schemes.includes(scheme.toLowerCase()))
    return `scheme ${scheme.toLowerCase()} not supported (only ${schemes.join(', ')})`;
  // The URL parser drops tabs and newlines, trims spaces and reads \ as /: such a string has two readings.
  if ([...url].some((ch) => ch <= ' ' || (ch >= '\u007f' && ch <= '\u009f') || ch === '\\'))
    return 'holds a space, a control character or a backslash';
  const hp = /^(\[[0-9a-fA-F:.]+\]|[^:[\]@]+)(?::([0-9]*))?$/.exec(authority);
  if (!hp) return `${quote(authority)} is not host[:port]`;
  const [, host, port] = hp as unknown as [string, string, string | undefined];
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) return `port ${quote(port)} is not in 1..65535`;
  if (host.startsWith('[') ? parseIp(host)?.family !== 6 : !normaliseHost(host) && !isHostName(host.toLowerCase()))
    return `${quote(host)} is not a host name or an IP address`;
  try {
    new URL(url);
  } catch {
    return 'not a URL';
  }
  return null;
}

/** An `x.pe` value (`1.2.3.4:6881`, `[2001:db8::1]:6881`, `host.example:6881`), or the reason it is not one. */
function readPeer(value: string): MagnetPeer | string {
  let hostText: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || value[close + 1] !== ':') return 'not [IPv6]:port';
    hostText = value.slice(1, close);
    portText = value.slice(close + 2);
    const ip = parseIp(hostText);
    if (ip?.family !== 6) return `${quote(hostText)} is not an IPv6 address`;
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return 'no port (host:port)';
    hostText = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (hostText.includes(':')) return 'an IPv6 address is written in brackets: [address]:port';
  }
  if (!PORT.test(portText) || Number(portText) > 65535) return `port ${quote(portText)} is not in 1..65535`;
  const port = Number(portText);
  const ip = normaliseHost(hostText);
  if (ip) return { host: ip.host, port };
  const name = hostText.toLowerCase();
  if (/^[0-9.]+$/.test(name)) return `${quote(hostText)} is not an IPv4 address`;
  if (!isHostName(name)) return `${quote(hostText)} is not a host name`;
  return { host: name, port };
}

/** `key` without a `.N` suffix (`tr.1` → `tr`, `x.pe.2` → `x.pe`), lowercase. */
function baseKey(key: string): string {
  const k = key.toLowerCase();
  return k.replace(/\.[0-9]+$/, '');
}

/**
 * Reads a magnet link.
 *
 * @throws MagnetError `BT_ERR_MAGNET_SCHEME` (not `magnet:?…`), `BT_ERR_MAGNET_LIMIT` (longer than
 *   {@link MAX_MAGNET_LENGTH}), `BT_ERR_MAGNET_ENCODING` (bad escapes, controls, raw `#`),
 *   `BT_ERR_MAGNET_NO_HASH` (no `xt=urn:btih:` nor `urn:btmh:`), `BT_ERR_MAGNET_V2` (only a v2
 *   `urn:btmh:` hash, unless `options.v2Only`), `BT_ERR_MAGNET_HASH` (a btih that is not 40 hex or 32
 *   base32, a btmh that is not `1220` and 64 hex), `BT_ERR_MAGNET_AMBIGUOUS` (two different info hashes
 *   of one version, names or lengths).
 * @example
 * const link = parseMagnet('magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Ubuntu+24.04&tr=udp%3A%2F%2Ftracker.example%3A6969');
 * link.infoHashHex // 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a'
 * link.name // 'Ubuntu 24.04'
 * link.trackers // ['udp://tracker.example:6969']
 */
export function parseMagnet(uri: string, options: { v2Only?: boolean } = {}): MagnetLink {
  if (typeof uri !== 'string') throw fail('BT_ERR_MAGNET_SCHEME', 'not a string');
  if (uri.length > MAX_MAGNET_LENGTH)
    throw fail('BT_ERR_MAGNET_LIMIT', `${uri.length} characters, more than the ${MAX_MAGNET_LENGTH} read`);
  if (!/^magnet:\?/i.test(uri)) {
    const what = /^magnet:/i.test(uri) ? "'magnet:' is not followed by '?'" : `does not start with 'magnet:?'`;
    throw fail('BT_ERR_MAGNET_SCHEME', what);
  }
  checkCharacters(uri);

  let hash: Uint8Array | undefined;
  let hashKey = '';
  let v2: Uint8Array | undefined;
  let v2Key = '';
  let name: string | undefined;
  let exactLength: number | undefined;
  const trackers: string[] = [];
  const webSeeds: string[] = [];
  const peers: MagnetPeer[] = [];
  const peerKeys = new Set<string>();
  const ignored: MagnetIgnored[] = [];
  const ignore = (key: string, value: string, reason: string): void => {
    if (ignored.length < MAX_MAGNET_ENTRIES) ignored.push({ key: cut(key), value: cut(value), reason });
  };
  const keep = (list: string[], key: string, value: string, what: string): void => {
    if (list.includes(value)) return;
    if (list.length >= MAX_MAGNET_ENTRIES) ignore(key, value, `more than ${MAX_MAGNET_ENTRIES} ${what}`);
    else list.push(value);
  };

  for (const part of uri.slice('magnet:?'.length).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const key = decodeComponent(rawKey, `parameter name ${quote(rawKey)}`);
    const value = eq < 0 ? '' : decodeComponent(part.slice(eq + 1), `the value of ${quote(key)}`);
    const base = baseKey(key);
    // A parameter with no value says nothing.
    if (value === '') continue;
    switch (base) {
      case 'xt': {
        const lower = value.toLowerCase();
        if (lower.startsWith('urn:btih:')) {
          const h = readBtih(value, key);
          if (hash && toHex(hash) !== toHex(h))
            throw fail(
              'BT_ERR_MAGNET_AMBIGUOUS',
              `two different info hashes (${short(hashKey)}=${toHex(hash)}, ${short(key)}=${toHex(h)})`,
            );
          hash = h;
          hashKey = key;
        } else if (lower.startsWith('urn:btmh:')) {
          const h = readBtmh(value, key);
          if (v2 && toHex(v2) !== toHex(h))
            throw fail(
              'BT_ERR_MAGNET_AMBIGUOUS',
              `two different v2 info hashes (${short(v2Key)}=${toHex(v2)}, ${short(key)}=${toHex(h)})`,
            );
          v2 = h;
          v2Key = key;
        } else {
          ignore(key, value, 'not a BitTorrent info hash (urn:btih:)');
        }
        break;
      }
      case 'dn': {
        if (Buffer.byteLength(value) > MAX_MAGNET_NAME_BYTES) {
          ignore(key, value, `longer than ${MAX_MAGNET_NAME_BYTES} bytes`);
        } else if (name !== undefined && name !== value) {
          throw fail('BT_ERR_MAGNET_AMBIGUOUS', `two different names (${quote(name)} and ${quote(value)})`);
        } else {
          name = value;
        }
        break;
      }
      case 'xl': {
        if (!/^(0|[1-9][0-9]{0,15})$/.test(value) || !Number.isSafeInteger(Number(value))) {
          ignore(key, value, 'not a length in bytes');
        } else if (exactLength !== undefined && exactLength !== Number(value)) {
          throw fail('BT_ERR_MAGNET_AMBIGUOUS', `two different lengths (${exactLength} and ${value})`);
        } else {
          exactLength = Number(value);
        }
        break;
      }
      case 'tr': {
        const why = checkUrl(value, TRACKER_SCHEMES);
        if (why) ignore(key, value, why);
        else keep(trackers, key, value, 'trackers');
        break;
      }
      case 'ws': {
        const why = checkUrl(value, WEB_SEED_SCHEMES);
        if (why) ignore(key, value, why);
        else keep(webSeeds, key, value, 'web seeds');
        break;
      }
      case 'x.pe': {
        const peer = readPeer(value);
        if (typeof peer === 'string') {
          ignore(key, value, peer);
          break;
        }
        const k = peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`;
        if (peerKeys.has(k)) break;
        if (peers.length >= MAX_MAGNET_ENTRIES) {
          ignore(key, value, `more than ${MAX_MAGNET_ENTRIES} peers`);
          break;
        }
        peerKeys.add(k);
        peers.push(peer);
        break;
      }
      default:
        ignore(key, value, 'not a parameter bt-actor uses');
    }
  }

  if (!hash) {
    if (v2 === undefined) throw fail('BT_ERR_MAGNET_NO_HASH', 'no info hash (xt=urn:btih:…)');
    if (!options.v2Only)
      throw fail(
        'BT_ERR_MAGNET_V2',
        'BitTorrent v2-only magnet links are not supported for download yet (urn:btmh: without a v1 urn:btih: hash)',
      );
  }
  const best = hash ?? v2!.slice(0, 20);
  const link: MagnetLink = { infoHash: best, infoHashHex: toHex(best), trackers, webSeeds, peers, ignored };
  if (v2) Object.assign(link, { infoHashV2: v2, infoHashV2Hex: toHex(v2) });
  if (!hash) link.v2Only = true;
  if (name !== undefined) link.name = name;
  if (exactLength !== undefined) link.exactLength = exactLength;
  return link;
}

/**
 * Writes a magnet link: `xt=urn:btih:` in lowercase hex, then `dn`, `xl`, every `tr`, `ws` and `x.pe`,
 * each value percent-encoded (`encodeURIComponent`, so `+` is `%2B` and a space `%20`).
 * {@link parseMagnet} reads it back to the same link.
 *
 * @throws MagnetError `BT_ERR_MAGNET_HASH` when `infoHash` is not 20 bytes; `BT_ERR_MAGNET_ENCODING` for an
 *   `exactLength` that is not a whole number, or text holding a lone surrogate.
 * @example formatMagnet({ infoHash, name: 'a b', trackers: ['udp://t.example:6969'] })
 * // 'magnet:?xt=urn:btih:…&dn=a%20b&tr=udp%3A%2F%2Ft.example%3A6969'
 */
export function formatMagnet(link: MagnetLinkInput): string {
  if (!(link.infoHash instanceof Uint8Array) || link.infoHash.length !== 20)
    throw fail('BT_ERR_MAGNET_HASH', 'an info hash is 20 bytes');
  const { exactLength: xl } = link;
  if (xl !== undefined && !(Number.isSafeInteger(xl) && xl >= 0))
    throw fail('BT_ERR_MAGNET_ENCODING', `exactLength ${String(xl)} is not a whole number of bytes`);
  const enc = (what: string, s: string): string => {
    try {
      return encodeURIComponent(s);
    } catch {
      throw fail('BT_ERR_MAGNET_ENCODING', `${what} holds a lone surrogate: it is not text`);
    }
  };
  const parts = [`xt=urn:btih:${toHex(link.infoHash)}`];
  if (link.infoHashV2 !== undefined) {
    if (!(link.infoHashV2 instanceof Uint8Array) || link.infoHashV2.length !== 32)
      throw fail('BT_ERR_MAGNET_HASH', 'a v2 info hash is 32 bytes');
    parts.push(`xt=urn:btmh:1220${toHex(link.infoHashV2)}`);
  }
  if (link.name !== undefined && link.name !== '') parts.push(`dn=${enc('the name', link.name)}`);
  if (xl !== undefined) parts.push(`xl=${xl}`);
  for (const t of link.trackers ?? []) parts.push(`tr=${enc('a tracker', t)}`);
  for (const w of link.webSeeds ?? []) parts.push(`ws=${enc('a web seed', w)}`);
  for (const p of link.peers ?? [])
    parts.push(`x.pe=${encodeURIComponent(p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`)}`);
  return `magnet:?${parts.join('&')}`;
}
