/**
 * HTTP tracker codecs: the announce URL (BEP 3), its reply with compact (BEP 23), dictionary-model
 * and IPv6 (BEP 7) peer lists, failure replies with BEP 31 `retry in`, and scrape (BEP 48).
 *
 * Pure: no I/O. The transport in src/io fetches the URL these functions build and hands the body to
 * the parsers. Every parse problem is a {@link TrackerError} with a stable code, never another kind
 * of exception. See docs/tracker.md.
 */
import { fromHex, toHex } from './bytes.js';
import {
  type BencodeDict,
  type BencodeValue,
  type ScanResult,
  BencodeError,
  decodeBencode,
  encodeBencode,
  get,
  isBytes,
  isDict,
  scanBencode,
  strictText,
  text,
} from './bencode.js';
import { BtError } from './errors.js';
import {
  type PeerAddress,
  COMPACT_PEER4_LENGTH,
  COMPACT_PEER6_LENGTH,
  decodeCompactPeers4,
  decodeCompactPeers6,
  encodeCompactPeers4,
  encodeCompactPeers6,
  formatIPv4,
  formatIPv6,
  normaliseHost,
  parseIp,
} from './peer-address.js';

export type TrackerErrorCode =
  /** HTTP reply body is not valid bencode (the BencodeError is the `cause`). */
  | 'BT_ERR_TRACKER_BENCODE'
  /** HTTP reply is bencode but not a usable reply; `field` names the offending key. */
  | 'BT_ERR_TRACKER_REPLY'
  /** An announce/scrape query string (server side) is malformed or lacks a field. */
  | 'BT_ERR_TRACKER_QUERY'
  /** An argument given to a builder or encoder is out of range (caller bug). */
  | 'BT_ERR_TRACKER_PARAM'
  /** UDP packet shorter than its action requires (BEP 15). */
  | 'BT_ERR_UDP_SHORT'
  /** UDP packet with an unknown or unexpected action. */
  | 'BT_ERR_UDP_ACTION'
  /** UDP packet whose variable part is not a whole number of entries. */
  | 'BT_ERR_UDP_LENGTH'
  /** UDP connect request without the protocol id 0x41727101980. */
  | 'BT_ERR_UDP_PROTOCOL'
  /** UDP request with an out-of-range field (e.g. an unknown event). */
  | 'BT_ERR_UDP_FIELD'
  /** UDP reply whose transaction id is not the one the caller sent. */
  | 'BT_ERR_UDP_TRANSACTION';

/** Any error of the tracker codecs (HTTP and UDP). */
export class TrackerError extends BtError {
  override readonly name = 'TrackerError';
  constructor(
    override readonly code: TrackerErrorCode,
    message: string,
    /** The reply or query field at fault, when there is one (`interval`, `peers`, …). */
    readonly field?: string,
    cause?: unknown,
  ) {
    super(code, message);
    if (cause !== undefined) this.cause = cause;
  }
}

// ---------------------------------------------------------------------------------------------
// Percent-encoding
// ---------------------------------------------------------------------------------------------

const HEX = '0123456789ABCDEF';
const UNRESERVED = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_~') UNRESERVED[c.charCodeAt(0)] = 1;

/**
 * Percent-encodes raw bytes for a query string: every byte outside the RFC 3986 unreserved set
 * `A-Z a-z 0-9 . - _ ~` becomes `%XX` (uppercase hex). Used for `info_hash` and `peer_id`, which are
 * binary and must not go through a UTF-8 text encoder.
 *
 * @example percentEncodeBytes(Uint8Array.of(0x12, 0x41, 0xff)) // '%12A%FF'
 */
export function percentEncodeBytes(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += UNRESERVED[b] ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  return s;
}

const utf8Encoder = new TextEncoder();

/** Percent-encodes text as its UTF-8 bytes (see {@link percentEncodeBytes}). */
export function percentEncodeText(value: string): string {
  return percentEncodeBytes(utf8Encoder.encode(value));
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Decodes a percent-encoded query component back to bytes: `%XX` (either case) is one byte, `+` is a
 * space (form encoding), any other character contributes its UTF-8 bytes. A `%` not followed by two
 * hex digits throws `BT_ERR_TRACKER_QUERY`.
 */
export function percentDecodeBytes(value: string): Uint8Array {
  const src = utf8Encoder.encode(value);
  const out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x25) {
      const hi = i + 2 < src.length ? hexValue(src[i + 1]!) : -1;
      const lo = hi >= 0 ? hexValue(src[i + 2]!) : -1;
      if (lo < 0) throw new TrackerError('BT_ERR_TRACKER_QUERY', `bad percent escape at ${i} in query component`);
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else {
      out[n++] = c === 0x2b ? 0x20 : c;
    }
  }
  return out.slice(0, n);
}

// ---------------------------------------------------------------------------------------------
// Announce request
// ---------------------------------------------------------------------------------------------

export type AnnounceEvent = 'started' | 'completed' | 'stopped';

/** Parameters of an HTTP announce (BEP 3). */
export interface AnnounceParams {
  /** 20-byte info hash (v1, or a v2 hash truncated to 20 bytes). */
  infoHash: Uint8Array;
  /** Our 20-byte peer id. */
  peerId: Uint8Array;
  /** TCP port we listen on, 0..65535. */
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
  /** Omitted for a regular (periodic) announce. */
  event?: AnnounceEvent;
  numwant?: number;
  /** Random key identifying us across IP changes: text, or a 32-bit number sent as 8 uppercase hex digits. */
  key?: string | number;
  /** The `tracker id` the tracker gave in an earlier reply. */
  trackerId?: string;
  /** Ask for the compact peer list (BEP 23); default true. */
  compact?: boolean;
  /** Our address, when the tracker should not use the connection's source address. */
  ip?: string;
}

const MAX_U32 = 0xffffffff;

function isUint(v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
}

function requireUint(name: string, v: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!isUint(v, max))
    throw new TrackerError('BT_ERR_TRACKER_PARAM', `${name} must be an integer in 0..${max}, got ${String(v)}`, name);
  return v;
}

function requireHash(name: string, v: Uint8Array): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== 20) {
    throw new TrackerError('BT_ERR_TRACKER_PARAM', `${name} must be 20 bytes`, name);
  }
  return v;
}

/** Drops the fragment and appends `query` with `?` or `&` as the URL needs. */
function appendQuery(url: string, query: string): string {
  const hash = url.indexOf('#');
  const base = hash >= 0 ? url.slice(0, hash) : url;
  if (query === '') return base;
  if (!base.includes('?')) return `${base}?${query}`;
  return base.endsWith('?') || base.endsWith('&') ? base + query : `${base}&${query}`;
}

/** Formats a numeric `key` the way common clients do: 8 uppercase hex digits. */
function formatKey(key: string | number): string {
  if (typeof key === 'string') return key;
  return requireUint('key', key, MAX_U32).toString(16).toUpperCase().padStart(8, '0');
}

/**
 * Builds the announce URL. `info_hash` and `peer_id` are percent-encoded as raw bytes; any query
 * already in `announceUrl` (a private tracker's passkey) is kept and the fragment is dropped.
 * Parameter order: info_hash, peer_id, port, uploaded, downloaded, left, compact, event, numwant,
 * key, trackerid, ip.
 *
 * @example
 * buildAnnounceUrl('http://t.example/announce?passkey=abc', { infoHash, peerId, port: 6881, uploaded: 0, downloaded: 0, left: 100, event: 'started' })
 * // 'http://t.example/announce?passkey=abc&info_hash=%12%34…&peer_id=…&port=6881&uploaded=0&downloaded=0&left=100&compact=1&event=started'
 */
export function buildAnnounceUrl(announceUrl: string, params: AnnounceParams): string {
  const q: string[] = [
    `info_hash=${percentEncodeBytes(requireHash('infoHash', params.infoHash))}`,
    `peer_id=${percentEncodeBytes(requireHash('peerId', params.peerId))}`,
    `port=${requireUint('port', params.port, 0xffff)}`,
    `uploaded=${requireUint('uploaded', params.uploaded)}`,
    `downloaded=${requireUint('downloaded', params.downloaded)}`,
    `left=${requireUint('left', params.left)}`,
    `compact=${params.compact === false ? 0 : 1}`,
  ];
  if (params.event !== undefined) {
    if (params.event !== 'started' && params.event !== 'completed' && params.event !== 'stopped') {
      throw new TrackerError('BT_ERR_TRACKER_PARAM', `unknown event ${String(params.event)}`, 'event');
    }
    q.push(`event=${params.event}`);
  }
  if (params.numwant !== undefined) q.push(`numwant=${requireUint('numwant', params.numwant)}`);
  if (params.key !== undefined) q.push(`key=${percentEncodeText(formatKey(params.key))}`);
  if (params.trackerId !== undefined) q.push(`trackerid=${percentEncodeText(params.trackerId)}`);
  if (params.ip !== undefined) q.push(`ip=${percentEncodeText(params.ip)}`);
  return appendQuery(announceUrl, q.join('&'));
}

/** Splits a URL or bare query string into decoded (name, raw value) pairs; names are text. */
function queryPairs(urlOrQuery: string): Array<[string, Uint8Array]> {
  const hash = urlOrQuery.indexOf('#');
  let s = hash >= 0 ? urlOrQuery.slice(0, hash) : urlOrQuery;
  const qm = s.indexOf('?');
  if (qm >= 0) s = s.slice(qm + 1);
  const pairs: Array<[string, Uint8Array]> = [];
  for (const part of s.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = text(percentDecodeBytes(eq >= 0 ? part.slice(0, eq) : part));
    pairs.push([name, percentDecodeBytes(eq >= 0 ? part.slice(eq + 1) : '')]);
  }
  return pairs;
}

function queryUint(name: string, raw: Uint8Array, max = Number.MAX_SAFE_INTEGER): number {
  const s = text(raw);
  const n = /^\d{1,16}$/.test(s) ? Number(s) : NaN;
  if (!isUint(n, max)) throw new TrackerError('BT_ERR_TRACKER_QUERY', `${name} is not an integer in 0..${max}`, name);
  return n;
}

/**
 * Server side of {@link buildAnnounceUrl}, for a fake or embedded tracker: reads the announce
 * parameters back from a URL or query string. Missing or malformed required fields throw
 * `BT_ERR_TRACKER_QUERY`; unknown parameters (a passkey) are ignored.
 */
export function parseAnnounceQuery(urlOrQuery: string): AnnounceParams {
  const m = new Map(queryPairs(urlOrQuery));
  const need = (name: string): Uint8Array => {
    const v = m.get(name);
    if (v === undefined) throw new TrackerError('BT_ERR_TRACKER_QUERY', `announce lacks ${name}`, name);
    return v;
  };
  const hash = (name: string): Uint8Array => {
    const v = need(name);
    if (v.length !== 20) throw new TrackerError('BT_ERR_TRACKER_QUERY', `${name} is ${v.length} bytes, not 20`, name);
    return v;
  };
  const params: AnnounceParams = {
    infoHash: hash('info_hash'),
    peerId: hash('peer_id'),
    port: queryUint('port', need('port'), 0xffff),
    uploaded: queryUint('uploaded', need('uploaded')),
    downloaded: queryUint('downloaded', need('downloaded')),
    left: queryUint('left', need('left')),
  };
  const compact = m.get('compact');
  if (compact !== undefined) params.compact = text(compact) !== '0';
  const event = m.get('event');
  if (event !== undefined) {
    const e = text(event);
    if (e === 'started' || e === 'completed' || e === 'stopped') params.event = e;
    else if (e !== '' && e !== 'empty') throw new TrackerError('BT_ERR_TRACKER_QUERY', `unknown event ${e}`, 'event');
  }
  const numwant = m.get('numwant');
  if (numwant !== undefined) params.numwant = queryUint('numwant', numwant);
  const key = m.get('key');
  if (key !== undefined) params.key = text(key);
  const trackerId = m.get('trackerid');
  if (trackerId !== undefined) params.trackerId = text(trackerId);
  const ip = m.get('ip');
  if (ip !== undefined) params.ip = text(ip);
  return params;
}

// ---------------------------------------------------------------------------------------------
// Announce reply
// ---------------------------------------------------------------------------------------------

export interface AnnounceFailure {
  type: 'failure';
  reason: string;
  /** BEP 31: minutes to wait before retrying, or `'never'`. */
  retryIn?: number | 'never';
}

export interface AnnounceSuccess {
  type: 'success';
  /** Seconds between regular announces. */
  interval: number;
  minInterval?: number;
  trackerId?: string;
  warning?: string;
  /** Seeders. */
  complete?: number;
  /** Leechers. */
  incomplete?: number;
  /** BEP 24: our address as the tracker sees it. */
  externalIp?: string;
  /** `peers` (compact or dictionary model) followed by `peers6`; not de-duplicated (see `peerKey`). */
  peers: PeerAddress[];
}

export type AnnounceResponse = AnnounceFailure | AnnounceSuccess;

function decodeReply(body: Uint8Array, what: string): { dict: BencodeDict; scan: ScanResult } {
  if (!isBytes(body)) throw new TrackerError('BT_ERR_TRACKER_PARAM', `${what} body must be a Uint8Array`);
  let decoded: { value: BencodeValue; scan: ScanResult };
  try {
    decoded = decodeBencode(body);
  } catch (err) {
    if (err instanceof BencodeError) {
      throw new TrackerError('BT_ERR_TRACKER_BENCODE', `${what} is not bencode: ${err.message}`, undefined, err);
    }
    throw err;
  }
  if (!isDict(decoded.value)) throw new TrackerError('BT_ERR_TRACKER_REPLY', `${what} is not a dictionary`);
  return { dict: decoded.value, scan: decoded.scan };
}

function optionalUint(dict: BencodeDict, key: string): number | undefined {
  const v = get(dict, key);
  return isUint(v) ? v : undefined;
}

function optionalText(dict: BencodeDict, key: string): string | undefined {
  const v = get(dict, key);
  return isBytes(v) ? text(v) : undefined;
}

function failureReason(dict: BencodeDict): string | undefined {
  const v = get(dict, 'failure reason');
  if (v === undefined) return undefined;
  if (isBytes(v)) return text(v);
  // Sloppy trackers: still a failure, whatever the type.
  return typeof v === 'number' ? String(v) : 'tracker failure (reason is not a string)';
}

function dictionaryPeers(list: BencodeValue[]): PeerAddress[] {
  const peers: PeerAddress[] = [];
  for (const entry of list) {
    if (!isDict(entry)) continue;
    const ip = get(entry, 'ip');
    const port = get(entry, 'port');
    if (!isBytes(ip) || !isUint(port, 0xffff) || port === 0) continue;
    const host = normaliseHost(text(ip));
    if (!host) continue; // DNS names and garbage are skipped: a PeerAddress is an IP address
    const peer: PeerAddress = { ...host, port };
    const id = get(entry, 'peer id');
    if (isBytes(id) && id.length === 20) peer.peerId = id;
    peers.push(peer);
  }
  return peers;
}

function peerList(value: BencodeValue | undefined, field: 'peers' | 'peers6'): PeerAddress[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return dictionaryPeers(value);
  if (isBytes(value)) {
    const size = field === 'peers' ? COMPACT_PEER4_LENGTH : COMPACT_PEER6_LENGTH;
    if (value.length % size !== 0) {
      throw new TrackerError(
        'BT_ERR_TRACKER_REPLY',
        `${field}: ${value.length} bytes is not a multiple of ${size}`,
        field,
      );
    }
    return field === 'peers' ? decodeCompactPeers4(value) : decodeCompactPeers6(value);
  }
  throw new TrackerError('BT_ERR_TRACKER_REPLY', `${field} is neither a string nor a list`, field);
}

/**
 * Parses an announce reply body. A `failure reason` makes it a failure (with BEP 31 `retry in`);
 * otherwise `interval` must be a non-negative integer. Optional fields of the wrong type are
 * ignored, dictionary-model peers without a usable ip/port are skipped; `peers`/`peers6` of the wrong
 * type or length, a missing interval, or a body that is not a bencoded dictionary throw a
 * {@link TrackerError}.
 *
 * @example parseAnnounceResponse(new TextEncoder().encode('d8:intervali1800e5:peers0:e')) // { type: 'success', interval: 1800, peers: [] }
 */
export function parseAnnounceResponse(body: Uint8Array): AnnounceResponse {
  const { dict } = decodeReply(body, 'announce reply');
  const reason = failureReason(dict);
  if (reason !== undefined) {
    const failure: AnnounceFailure = { type: 'failure', reason };
    const retry = get(dict, 'retry in');
    if (isUint(retry)) failure.retryIn = retry;
    else if (isBytes(retry) && text(retry) === 'never') failure.retryIn = 'never';
    return failure;
  }
  const interval = get(dict, 'interval');
  if (interval === undefined)
    throw new TrackerError('BT_ERR_TRACKER_REPLY', 'announce reply lacks interval', 'interval');
  if (!isUint(interval))
    throw new TrackerError('BT_ERR_TRACKER_REPLY', 'interval is not a non-negative integer', 'interval');
  const res: AnnounceSuccess = {
    type: 'success',
    interval,
    peers: [...peerList(get(dict, 'peers'), 'peers'), ...peerList(get(dict, 'peers6'), 'peers6')],
  };
  const minInterval = optionalUint(dict, 'min interval');
  if (minInterval !== undefined) res.minInterval = minInterval;
  const trackerId = optionalText(dict, 'tracker id');
  if (trackerId !== undefined) res.trackerId = trackerId;
  const warning = optionalText(dict, 'warning message');
  if (warning !== undefined) res.warning = warning;
  const complete = optionalUint(dict, 'complete');
  if (complete !== undefined) res.complete = complete;
  const incomplete = optionalUint(dict, 'incomplete');
  if (incomplete !== undefined) res.incomplete = incomplete;
  const ext = get(dict, 'external ip');
  if (isBytes(ext) && ext.length === 4) res.externalIp = formatIPv4(ext);
  else if (isBytes(ext) && ext.length === 16) res.externalIp = formatIPv6(ext);
  return res;
}

export interface EncodeAnnounceOptions {
  /** Compact lists (`peers` for IPv4, `peers6` for IPv6; peer ids dropped) or one dictionary-model `peers` list. Default true. */
  compact?: boolean;
}

function optionalUintParam(name: string, v: number | undefined): number | undefined {
  return v === undefined ? undefined : requireUint(name, v);
}

/**
 * Encodes an announce reply (for tests and a fake tracker). With `compact` (the default) IPv4 peers
 * go to `peers` and IPv6 peers to `peers6`; otherwise all peers form a dictionary-model `peers` list
 * with their peer ids.
 */
export function encodeAnnounceResponse(res: AnnounceResponse, options: EncodeAnnounceOptions = {}): Uint8Array {
  if (res.type === 'failure') {
    const retryIn = res.retryIn === 'never' ? 'never' : optionalUintParam('retryIn', res.retryIn);
    return encodeBencode({ 'failure reason': res.reason, 'retry in': retryIn });
  }
  const dict: Record<string, unknown> = {
    interval: requireUint('interval', res.interval),
    'min interval': optionalUintParam('minInterval', res.minInterval),
    'tracker id': res.trackerId,
    'warning message': res.warning,
    complete: optionalUintParam('complete', res.complete),
    incomplete: optionalUintParam('incomplete', res.incomplete),
  };
  if (res.externalIp !== undefined) {
    const n = normaliseHost(res.externalIp);
    if (!n)
      throw new TrackerError('BT_ERR_TRACKER_PARAM', `externalIp ${res.externalIp} is not an IP address`, 'externalIp');
    dict['external ip'] = parseIp(n.host)!.bytes;
  }
  try {
    if (options.compact === false) {
      dict.peers = res.peers.map((p) => {
        const n = normaliseHost(p.host);
        if (!n) throw new TrackerError('BT_ERR_TRACKER_PARAM', `${p.host} is not an IP address`, 'peers');
        return { ip: n.host, port: requireUint('port', p.port, 0xffff), 'peer id': p.peerId };
      });
    } else {
      const v4: PeerAddress[] = [];
      const v6: PeerAddress[] = [];
      for (const p of res.peers) (normaliseHost(p.host)?.family === 4 ? v4 : v6).push(p);
      dict.peers = encodeCompactPeers4(v4);
      if (v6.length > 0) dict.peers6 = encodeCompactPeers6(v6);
    }
  } catch (err) {
    if (err instanceof TrackerError) throw err;
    throw new TrackerError('BT_ERR_TRACKER_PARAM', `peers: ${(err as Error).message}`, 'peers', err);
  }
  return encodeBencode(dict);
}

// ---------------------------------------------------------------------------------------------
// Scrape (BEP 48)
// ---------------------------------------------------------------------------------------------

/**
 * Derives the scrape URL from an announce URL (BEP 48): when the last path segment starts with
 * `announce`, that word becomes `scrape` and the rest (`.php`, the query) is kept; otherwise the
 * tracker does not support scrape and the result is null. The fragment is dropped.
 *
 * @example scrapeUrlFor('http://t.example/announce.php?k=1') // 'http://t.example/scrape.php?k=1'
 * @example scrapeUrlFor('http://t.example/a') // null
 */
export function scrapeUrlFor(announceUrl: string): string | null {
  const hash = announceUrl.indexOf('#');
  const url = hash >= 0 ? announceUrl.slice(0, hash) : announceUrl;
  const qm = url.indexOf('?');
  const path = qm >= 0 ? url.slice(0, qm) : url;
  const query = qm >= 0 ? url.slice(qm) : '';
  const scheme = path.indexOf('://');
  const pathStart = path.indexOf('/', scheme >= 0 ? scheme + 3 : 0);
  if (pathStart < 0) return null;
  const slash = path.lastIndexOf('/');
  if (slash < pathStart || !path.startsWith('announce', slash + 1)) return null;
  return `${path.slice(0, slash + 1)}scrape${path.slice(slash + 1 + 'announce'.length)}${query}`;
}

/** Builds a scrape URL asking for the given 20-byte info hashes (repeated `info_hash`); keeps an existing query. */
export function buildScrapeUrl(scrapeUrl: string, infoHashes: readonly Uint8Array[]): string {
  const q = infoHashes.map((h) => `info_hash=${percentEncodeBytes(requireHash('infoHash', h))}`).join('&');
  return appendQuery(scrapeUrl, q);
}

/** Server side of {@link buildScrapeUrl}: the 20-byte info hashes asked for (may be empty: a full scrape). */
export function parseScrapeQuery(urlOrQuery: string): Uint8Array[] {
  const hashes: Uint8Array[] = [];
  for (const [name, value] of queryPairs(urlOrQuery)) {
    if (name !== 'info_hash') continue;
    if (value.length !== 20)
      throw new TrackerError('BT_ERR_TRACKER_QUERY', `info_hash is ${value.length} bytes, not 20`, 'info_hash');
    hashes.push(value);
  }
  return hashes;
}

export interface ScrapeStats {
  /** Seeders. */
  complete: number;
  /** Completed downloads ever. */
  downloaded: number;
  /** Leechers. */
  incomplete: number;
  name?: string;
}

export type ScrapeResponse =
  | { type: 'failure'; reason: string }
  | {
      type: 'success';
      /** Keyed by the lowercase 40-hex info hash. */
      files: Map<string, ScrapeStats>;
      /** `flags.min_request_interval`, seconds. */
      minRequestInterval?: number;
    };

const HEX40 = /^[0-9a-fA-F]{40}$/;

function scrapeStats(value: BencodeValue): ScrapeStats | null {
  if (!isDict(value)) return null;
  const stats: ScrapeStats = {
    complete: optionalUint(value, 'complete') ?? 0,
    downloaded: optionalUint(value, 'downloaded') ?? 0,
    incomplete: optionalUint(value, 'incomplete') ?? 0,
  };
  const name = optionalText(value, 'name');
  if (name !== undefined) stats.name = name;
  return stats;
}

/**
 * Parses a scrape reply. The `files` dictionary is keyed by raw 20-byte info hashes, which the
 * generic decoder would turn into lossy text, so its keys are read from the raw bytes here. Keys of
 * 40 hex characters (sloppy trackers that hex-encode) are accepted too; other keys, and entries that
 * are not dictionaries, are skipped. Missing counts read as 0.
 */
export function parseScrapeResponse(body: Uint8Array): ScrapeResponse {
  const { dict, scan } = decodeReply(body, 'scrape reply');
  const reason = failureReason(dict);
  if (reason !== undefined) return { type: 'failure', reason };
  const files = new Map<string, ScrapeStats>();
  const res: ScrapeResponse = { type: 'success', files };
  const flags = get(dict, 'flags');
  if (isDict(flags)) {
    const mri = optionalUint(flags, 'min_request_interval');
    if (mri !== undefined) res.minRequestInterval = mri;
  }
  // The body is valid bencode (decodeReply checked it), so the walk below cannot run off the end.
  const span = scan.topLevelSpans.get('files');
  if (span === undefined) return res;
  if (body[span.start] !== 0x64 /* d */)
    throw new TrackerError('BT_ERR_TRACKER_REPLY', 'files is not a dictionary', 'files');
  let pos = span.start + 1;
  while (body[pos] !== 0x65 /* e */) {
    let len = 0;
    while (body[pos] !== 0x3a /* : */) len = len * 10 + body[pos++]! - 0x30;
    const key = body.subarray(pos + 1, pos + 1 + len);
    pos += 1 + len;
    const end = pos + scanBencode(body.subarray(pos), { allowTrailing: true }).end;
    const stats = scrapeStats(decodeBencode(body.subarray(pos, end)).value);
    pos = end;
    if (!stats) continue;
    if (key.length === 20) files.set(toHex(key), stats);
    else if (key.length === 40 && HEX40.test(text(key))) files.set(text(key).toLowerCase(), stats);
    else {
      const latin1 = utf8EncodedLatin1(key);
      if (latin1) files.set(toHex(latin1), stats);
    }
  }
  return res;
}

/**
 * Some trackers (the bittorrent-tracker npm server, up to at least 11.2) write each raw info hash
 * byte as a character and then UTF-8 encode that string, so a 20-byte hash arrives as 20–40 bytes.
 * Returns the 20 bytes when `key` is exactly that, else null.
 */
function utf8EncodedLatin1(key: Uint8Array): Uint8Array | null {
  if (key.length <= 20 || key.length > 40) return null;
  const s = strictText(key);
  if (s === null || s.length !== 20) return null;
  const out = new Uint8Array(20);
  for (let i = 0; i < 20; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) return null;
    out[i] = c;
  }
  return out;
}

const ASCII = new TextEncoder();

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * Encodes a scrape reply (for tests and a fake tracker). The `files` keys (40-hex info hashes) are
 * written as raw 20-byte strings, sorted by their bytes as bencode requires.
 */
export function encodeScrapeResponse(res: ScrapeResponse): Uint8Array {
  if (res.type === 'failure') return encodeBencode({ 'failure reason': res.reason });
  const entries = new Map<string, [Uint8Array, Uint8Array]>();
  for (const [hex, s] of res.files) {
    if (!HEX40.test(hex))
      throw new TrackerError('BT_ERR_TRACKER_PARAM', `files key ${hex} is not a 40-hex info hash`, 'files');
    const stats = encodeBencode({
      complete: requireUint('complete', s.complete),
      downloaded: requireUint('downloaded', s.downloaded),
      incomplete: requireUint('incomplete', s.incomplete),
      name: s.name,
    });
    entries.set(hex.toLowerCase(), [fromHex(hex), stats]);
  }
  const sorted = [...entries.values()].sort((a, b) => compareBytes(a[0], b[0]));
  const parts: Uint8Array[] = [ASCII.encode('d5:filesd')];
  for (const [key, stats] of sorted) parts.push(ASCII.encode('20:'), key, stats);
  parts.push(ASCII.encode('e'));
  if (res.minRequestInterval !== undefined) {
    parts.push(
      ASCII.encode('5:flags'),
      encodeBencode({ min_request_interval: requireUint('minRequestInterval', res.minRequestInterval) }),
    );
  }
  parts.push(ASCII.encode('e'));
  return concatBytes(parts);
}
