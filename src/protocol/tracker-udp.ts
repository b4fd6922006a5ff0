/**
 * UDP tracker protocol (BEP 15), both directions, pure over Uint8Array: a client encodes requests and
 * decodes responses; a fake or embedded tracker decodes requests and encodes responses. Announce
 * requests may carry BEP 41 URL data (the path and query of the tracker URL).
 *
 * All integers are big-endian. Transaction ids, connection ids and keys are chosen by the caller (the
 * codec draws no random numbers), and the caller checks the echoed transaction id with
 * {@link expectTransaction}. Every decode problem is a {@link TrackerError}. See docs/tracker.md.
 */
import { text } from './bencode.js';
import {
  type PeerAddress,
  COMPACT_PEER4_LENGTH,
  COMPACT_PEER6_LENGTH,
  PeerAddressError,
  decodeCompactPeers4,
  decodeCompactPeers6,
  encodeCompactPeers4,
  encodeCompactPeers6,
} from './peer-address.js';
import { TrackerError } from './tracker-http.js';

export { TrackerError } from './tracker-http.js';

/** BEP 15: the magic connection id of a connect request. */
export const UDP_PROTOCOL_ID = 0x41727101980n;

/** BEP 15 action numbers. */
export const UdpAction = { connect: 0, announce: 1, scrape: 2, error: 3 } as const;

/** BEP 15 announce event numbers. */
export const UdpEvent = { none: 0, completed: 1, started: 2, stopped: 3 } as const;
export type UdpEventName = keyof typeof UdpEvent;
const EVENT_NAMES: readonly UdpEventName[] = ['none', 'completed', 'started', 'stopped'];

/** BEP 15: about 74 info hashes fit one scrape (the reply stays under a typical MTU). */
export const UDP_MAX_SCRAPE_HASHES = 74;

/** Fixed sizes (BEP 15). */
export const UDP_CONNECT_REQUEST_LENGTH = 16;
export const UDP_ANNOUNCE_REQUEST_LENGTH = 98;
export const UDP_CONNECT_RESPONSE_LENGTH = 16;
export const UDP_ANNOUNCE_RESPONSE_HEADER = 20;
export const UDP_SCRAPE_ENTRY_LENGTH = 12;

/** BEP 41 option types. */
const OPTION_END = 0x0;
const OPTION_NOP = 0x1;
const OPTION_URL_DATA = 0x2;

const MAX_U64 = 0xffffffffffffffffn;

function param(name: string, message: string): TrackerError {
  return new TrackerError('BT_ERR_TRACKER_PARAM', `${name} ${message}`, name);
}

function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw param(name, `must be an integer in 0..2^32-1, got ${String(v)}`);
  return v;
}

function i32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff)
    throw param(name, `must be a 32-bit signed integer, got ${String(v)}`);
  return v;
}

function u64(name: string, v: number | bigint): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw param(name, `must be a non-negative safe integer, got ${String(v)}`);
    return BigInt(v);
  }
  if (typeof v !== 'bigint' || v < 0n || v > MAX_U64) throw param(name, 'must be a bigint in 0..2^64-1');
  return v;
}

function hash20(name: string, v: Uint8Array): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== 20) throw param(name, 'must be 20 bytes');
  return v;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function header(size: number, action: number, transactionId: number): { out: Uint8Array; dv: DataView } {
  const out = new Uint8Array(size);
  const dv = view(out);
  dv.setUint32(0, action);
  dv.setUint32(4, u32('transactionId', transactionId));
  return { out, dv };
}

// ---------------------------------------------------------------------------------------------
// Requests (client → tracker)
// ---------------------------------------------------------------------------------------------

/**
 * Connect request, 16 bytes: protocol id (u64), action 0, transaction id.
 *
 * @example encodeConnectRequest(0x01020304) // 00 00 04 17 27 10 19 80 | 00 00 00 00 | 01 02 03 04
 */
export function encodeConnectRequest(transactionId: number): Uint8Array {
  const out = new Uint8Array(UDP_CONNECT_REQUEST_LENGTH);
  const dv = view(out);
  dv.setBigUint64(0, UDP_PROTOCOL_ID);
  dv.setUint32(8, UdpAction.connect);
  dv.setUint32(12, u32('transactionId', transactionId));
  return out;
}

export interface UdpAnnounceRequest {
  connectionId: bigint;
  transactionId: number;
  infoHash: Uint8Array;
  peerId: Uint8Array;
  /** Written as u64; numbers must be safe integers. */
  downloaded: number | bigint;
  left: number | bigint;
  uploaded: number | bigint;
  /** Default `'none'`. */
  event?: UdpEventName;
  /** IPv4 address as a u32, 0 (the default) meaning "the packet's source". */
  ip?: number;
  key: number;
  /** Default -1: the tracker's choice. */
  numWant?: number;
  port: number;
  /** BEP 41: the tracker URL's path and query (e.g. `/announce?passkey=abc`), sent as URLData options. */
  urlData?: string | Uint8Array;
}

/**
 * Announce request: 98 bytes (BEP 15), then BEP 41 URLData options when `urlData` is given
 * (type 0x2, length byte, up to 255 bytes each, as many as needed).
 *
 * Layout: connection_id u64 | action u32 = 1 | transaction_id u32 | info_hash 20 | peer_id 20 |
 * downloaded u64 | left u64 | uploaded u64 | event u32 | ip u32 | key u32 | num_want i32 | port u16.
 */
export function encodeAnnounceRequest(req: UdpAnnounceRequest): Uint8Array {
  const url =
    req.urlData === undefined
      ? new Uint8Array(0)
      : typeof req.urlData === 'string'
        ? new TextEncoder().encode(req.urlData)
        : req.urlData;
  const chunks = Math.ceil(url.length / 255);
  const out = new Uint8Array(UDP_ANNOUNCE_REQUEST_LENGTH + url.length + 2 * chunks);
  const dv = view(out);
  dv.setBigUint64(0, u64('connectionId', req.connectionId));
  dv.setUint32(8, UdpAction.announce);
  dv.setUint32(12, u32('transactionId', req.transactionId));
  out.set(hash20('infoHash', req.infoHash), 16);
  out.set(hash20('peerId', req.peerId), 36);
  dv.setBigUint64(56, u64('downloaded', req.downloaded));
  dv.setBigUint64(64, u64('left', req.left));
  dv.setBigUint64(72, u64('uploaded', req.uploaded));
  const event = req.event ?? 'none';
  if (!EVENT_NAMES.includes(event)) throw param('event', `is not one of ${EVENT_NAMES.join(', ')}`);
  dv.setUint32(80, UdpEvent[event]);
  dv.setUint32(84, u32('ip', req.ip ?? 0));
  dv.setUint32(88, u32('key', req.key));
  dv.setInt32(92, i32('numWant', req.numWant ?? -1));
  const port = req.port;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff)
    throw param('port', `must be in 0..65535, got ${String(port)}`);
  dv.setUint16(96, port);
  let o = UDP_ANNOUNCE_REQUEST_LENGTH;
  for (let i = 0; i < url.length; i += 255) {
    const part = url.subarray(i, i + 255);
    out[o++] = OPTION_URL_DATA;
    out[o++] = part.length;
    out.set(part, o);
    o += part.length;
  }
  return out;
}

/** Scrape request: connection id, action 2, transaction id, then 20 bytes per info hash (1..74). */
export function encodeScrapeRequest(
  connectionId: bigint,
  transactionId: number,
  infoHashes: readonly Uint8Array[],
): Uint8Array {
  if (infoHashes.length < 1 || infoHashes.length > UDP_MAX_SCRAPE_HASHES) {
    throw param('infoHashes', `must hold 1..${UDP_MAX_SCRAPE_HASHES} hashes, got ${infoHashes.length}`);
  }
  const out = new Uint8Array(16 + 20 * infoHashes.length);
  const dv = view(out);
  dv.setBigUint64(0, u64('connectionId', connectionId));
  dv.setUint32(8, UdpAction.scrape);
  dv.setUint32(12, u32('transactionId', transactionId));
  infoHashes.forEach((h, i) => out.set(hash20('infoHash', h), 16 + 20 * i));
  return out;
}

export type UdpRequest =
  | { action: 'connect'; transactionId: number }
  | {
      action: 'announce';
      connectionId: bigint;
      transactionId: number;
      infoHash: Uint8Array;
      peerId: Uint8Array;
      downloaded: bigint;
      left: bigint;
      uploaded: bigint;
      event: UdpEventName;
      ip: number;
      key: number;
      numWant: number;
      port: number;
      /** BEP 41 URLData options concatenated; absent when there were none. */
      urlData?: Uint8Array;
    }
  | { action: 'scrape'; connectionId: bigint; transactionId: number; infoHashes: Uint8Array[] };

function short(what: string, need: number, got: number): TrackerError {
  return new TrackerError('BT_ERR_UDP_SHORT', `${what} needs ${need} bytes, got ${got}`);
}

/** Reads BEP 41 options; stops quietly at EndOfOptions or at a truncated option (lenient, like trackers). */
function readUrlData(bytes: Uint8Array, start: number): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let o = start;
  while (o < bytes.length) {
    const type = bytes[o++]!;
    if (type === OPTION_END) break;
    if (type === OPTION_NOP) continue;
    if (o >= bytes.length) break;
    const len = bytes[o++]!;
    if (o + len > bytes.length) break;
    if (type === OPTION_URL_DATA) parts.push(bytes.subarray(o, o + len));
    o += len; // unknown options are skipped by their length (BEP 41)
  }
  if (parts.length === 0) return undefined;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let w = 0;
  for (const p of parts) {
    out.set(p, w);
    w += p.length;
  }
  return out;
}

/**
 * Decodes a request as a tracker receives it. Extra bytes after a connect request are ignored
 * (BEP 15: accept larger packets); after an announce they are BEP 41 options; a scrape must be a
 * whole number of 20-byte hashes.
 */
export function decodeUdpRequest(bytes: Uint8Array): UdpRequest {
  if (bytes.length < 16) throw short('UDP request', 16, bytes.length);
  const dv = view(bytes);
  const action = dv.getUint32(8);
  const transactionId = dv.getUint32(12);
  switch (action) {
    case UdpAction.connect:
      if (dv.getBigUint64(0) !== UDP_PROTOCOL_ID) {
        throw new TrackerError('BT_ERR_UDP_PROTOCOL', 'connect request without the protocol id 0x41727101980');
      }
      return { action: 'connect', transactionId };
    case UdpAction.announce: {
      if (bytes.length < UDP_ANNOUNCE_REQUEST_LENGTH)
        throw short('UDP announce request', UDP_ANNOUNCE_REQUEST_LENGTH, bytes.length);
      const eventNumber = dv.getUint32(80);
      const event = EVENT_NAMES[eventNumber];
      if (event === undefined)
        throw new TrackerError('BT_ERR_UDP_FIELD', `unknown announce event ${eventNumber}`, 'event');
      const req: UdpRequest = {
        action: 'announce',
        connectionId: dv.getBigUint64(0),
        transactionId,
        infoHash: bytes.slice(16, 36),
        peerId: bytes.slice(36, 56),
        downloaded: dv.getBigUint64(56),
        left: dv.getBigUint64(64),
        uploaded: dv.getBigUint64(72),
        event,
        ip: dv.getUint32(84),
        key: dv.getUint32(88),
        numWant: dv.getInt32(92),
        port: dv.getUint16(96),
      };
      const urlData = readUrlData(bytes, UDP_ANNOUNCE_REQUEST_LENGTH);
      if (urlData) req.urlData = urlData.slice();
      return req;
    }
    case UdpAction.scrape: {
      const n = bytes.length - 16;
      if (n < 20) throw short('UDP scrape request', 36, bytes.length);
      if (n % 20 !== 0)
        throw new TrackerError('BT_ERR_UDP_LENGTH', `scrape request: ${n} bytes of hashes is not a multiple of 20`);
      const infoHashes: Uint8Array[] = [];
      for (let o = 16; o < bytes.length; o += 20) infoHashes.push(bytes.slice(o, o + 20));
      return { action: 'scrape', connectionId: dv.getBigUint64(0), transactionId, infoHashes };
    }
    default:
      throw new TrackerError('BT_ERR_UDP_ACTION', `unknown request action ${action}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Responses (tracker → client)
// ---------------------------------------------------------------------------------------------

/** Connect response, 16 bytes: action 0, transaction id, connection id (u64). */
export function encodeConnectResponse(transactionId: number, connectionId: bigint): Uint8Array {
  const { out, dv } = header(UDP_CONNECT_RESPONSE_LENGTH, UdpAction.connect, transactionId);
  dv.setBigUint64(8, u64('connectionId', connectionId));
  return out;
}

export interface UdpAnnounceReply {
  transactionId: number;
  interval: number;
  leechers: number;
  seeders: number;
  peers: PeerAddress[];
}

/**
 * Announce response: action 1, transaction id, interval, leechers, seeders (u32 each), then peers:
 * 6-byte IPv4 entries when `family` is 4, 18-byte IPv6 entries when 6 — BEP 15 ties the entry size to
 * the address family of the socket the request came in on. With family 6, IPv4 peers are written
 * IPv4-mapped; with family 4, an IPv6 peer throws `BT_ERR_TRACKER_PARAM`.
 */
export function encodeAnnounceResponse(reply: UdpAnnounceReply, family: 4 | 6 = 4): Uint8Array {
  let peers: Uint8Array;
  try {
    peers = family === 6 ? encodeCompactPeers6(reply.peers) : encodeCompactPeers4(reply.peers);
  } catch (err) {
    if (err instanceof PeerAddressError)
      throw new TrackerError('BT_ERR_TRACKER_PARAM', `peers: ${err.message}`, 'peers', err);
    throw err;
  }
  const { out, dv } = header(UDP_ANNOUNCE_RESPONSE_HEADER + peers.length, UdpAction.announce, reply.transactionId);
  dv.setUint32(8, u32('interval', reply.interval));
  dv.setUint32(12, u32('leechers', reply.leechers));
  dv.setUint32(16, u32('seeders', reply.seeders));
  out.set(peers, UDP_ANNOUNCE_RESPONSE_HEADER);
  return out;
}

/** One scrape entry; BEP 15 order on the wire: seeders, completed, leechers. */
export interface UdpScrapeStats {
  seeders: number;
  completed: number;
  leechers: number;
}

/** Scrape response: action 2, transaction id, then 12 bytes per requested hash, in request order. */
export function encodeScrapeResponse(transactionId: number, stats: readonly UdpScrapeStats[]): Uint8Array {
  const { out, dv } = header(8 + UDP_SCRAPE_ENTRY_LENGTH * stats.length, UdpAction.scrape, transactionId);
  stats.forEach((s, i) => {
    const o = 8 + UDP_SCRAPE_ENTRY_LENGTH * i;
    dv.setUint32(o, u32('seeders', s.seeders));
    dv.setUint32(o + 4, u32('completed', s.completed));
    dv.setUint32(o + 8, u32('leechers', s.leechers));
  });
  return out;
}

/** Error response: action 3, transaction id, then the message as UTF-8 to the end of the packet. */
export function encodeErrorResponse(transactionId: number, message: string): Uint8Array {
  const msg = new TextEncoder().encode(message);
  const { out } = header(8 + msg.length, UdpAction.error, transactionId);
  out.set(msg, 8);
  return out;
}

export type UdpResponse =
  | { action: 'connect'; transactionId: number; connectionId: bigint }
  | ({ action: 'announce' } & UdpAnnounceReply)
  | { action: 'scrape'; transactionId: number; stats: UdpScrapeStats[] }
  | { action: 'error'; transactionId: number; message: string };

/**
 * Decodes a tracker's response. `family` is the address family of the socket (4 or 6), which fixes
 * the size of announce peer entries. Short packets throw `BT_ERR_UDP_SHORT`, unknown actions
 * `BT_ERR_UDP_ACTION`, a peer or scrape list that is not a whole number of entries
 * `BT_ERR_UDP_LENGTH`. Bytes after a connect response are ignored (BEP 15: accept larger packets).
 * Peers with port 0 are dropped.
 *
 * @example
 * const res = expectTransaction(decodeUdpResponse(packet), sentTx);
 * if (res.action === 'connect') connectionId = res.connectionId;
 */
export function decodeUdpResponse(bytes: Uint8Array, family: 4 | 6 = 4): UdpResponse {
  if (bytes.length < 8) throw short('UDP response', 8, bytes.length);
  const dv = view(bytes);
  const action = dv.getUint32(0);
  const transactionId = dv.getUint32(4);
  switch (action) {
    case UdpAction.connect:
      if (bytes.length < UDP_CONNECT_RESPONSE_LENGTH)
        throw short('UDP connect response', UDP_CONNECT_RESPONSE_LENGTH, bytes.length);
      return { action: 'connect', transactionId, connectionId: dv.getBigUint64(8) };
    case UdpAction.announce: {
      if (bytes.length < UDP_ANNOUNCE_RESPONSE_HEADER)
        throw short('UDP announce response', UDP_ANNOUNCE_RESPONSE_HEADER, bytes.length);
      const size = family === 6 ? COMPACT_PEER6_LENGTH : COMPACT_PEER4_LENGTH;
      const list = bytes.subarray(UDP_ANNOUNCE_RESPONSE_HEADER);
      if (list.length % size !== 0) {
        throw new TrackerError(
          'BT_ERR_UDP_LENGTH',
          `announce response: ${list.length} bytes of peers is not a multiple of ${size} (IPv${family})`,
        );
      }
      return {
        action: 'announce',
        transactionId,
        interval: dv.getUint32(8),
        leechers: dv.getUint32(12),
        seeders: dv.getUint32(16),
        peers: family === 6 ? decodeCompactPeers6(list) : decodeCompactPeers4(list),
      };
    }
    case UdpAction.scrape: {
      const n = bytes.length - 8;
      if (n % UDP_SCRAPE_ENTRY_LENGTH !== 0) {
        throw new TrackerError(
          'BT_ERR_UDP_LENGTH',
          `scrape response: ${n} bytes is not a multiple of ${UDP_SCRAPE_ENTRY_LENGTH}`,
        );
      }
      const stats: UdpScrapeStats[] = [];
      for (let o = 8; o < bytes.length; o += UDP_SCRAPE_ENTRY_LENGTH) {
        stats.push({ seeders: dv.getUint32(o), completed: dv.getUint32(o + 4), leechers: dv.getUint32(o + 8) });
      }
      return { action: 'scrape', transactionId, stats };
    }
    case UdpAction.error:
      return { action: 'error', transactionId, message: text(bytes.subarray(8)) };
    default:
      throw new TrackerError('BT_ERR_UDP_ACTION', `unknown response action ${action}`);
  }
}

/**
 * Returns `res` when its transaction id is `transactionId`, else throws `BT_ERR_UDP_TRANSACTION`
 * (a stale or spoofed packet: the caller drops it and keeps waiting).
 */
export function expectTransaction<T extends { transactionId: number }>(res: T, transactionId: number): T {
  if (res.transactionId !== transactionId >>> 0) {
    throw new TrackerError(
      'BT_ERR_UDP_TRANSACTION',
      `transaction id ${res.transactionId} does not match ${transactionId >>> 0}`,
    );
  }
  return res;
}
