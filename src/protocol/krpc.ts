/**
 * KRPC, the DHT's message format (BEP 5), pure over Uint8Array: one bencoded dictionary per UDP datagram,
 * a query (`y: q`), a response (`y: r`) or an error (`y: e`), tied together by the transaction id `t`.
 *
 * Modelled: the BEP 5 queries `ping`, `find_node`, `get_peers`, `announce_peer` (with `implied_port`),
 * any other method as an {@link KrpcOtherQuery} (so a node can answer 204 "method unknown"); responses in
 * one general shape (every `r` field optional, validated when present — the shape of a response depends on
 * the query it answers, which only the node knows: {@link readResponse} checks it); errors `[code, text]`.
 * Also `nodes6` and `want` (BEP 32, IPv6), the client version `v`, the requester's address `ip` (BEP 42) and
 * the read-only flag `ro` (BEP 43). Keys this module does not model are ignored (BEP 5 dictionaries are
 * extensible); every modelled key that is present is checked, and a wrong one refuses the whole message.
 *
 * Strict, as the other codecs: the bencode reader refuses duplicate and non-canonical input, and so a
 * decoded message built only of modelled keys re-encodes to exactly its input bytes. Every refusal is a
 * {@link KrpcError} with a `BT_ERR_KRPC_…` code, never another exception; the input is capped at
 * {@link KrpcLimits.maxMessageBytes} before it is read, so nothing grows past the caps. See docs/dht.md.
 *
 * @example
 * const ping = decodeKrpc(Buffer.from('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe'));
 * // { y: 'q', q: 'ping', t: <61 61>, id: <abcdefghij0123456789> }
 * encodeKrpc({ y: 'r', t: ping.t, id: ourId }); // the pong
 */
import {
  type BencodeDict,
  type BencodeValue,
  decodeBencode,
  encodeBencode,
  get,
  isBytes,
  isDict,
  strictText,
} from './bencode.js';
import { equalBytes } from './bytes.js';
import { BtError } from './errors.js';
import { type PeerAddress, formatIPv4, formatIPv6, isIPv4Mapped, parseIp } from './peer-address.js';

/** Length of a node id and of an info hash (BEP 5). */
export const NODE_ID_LENGTH = 20;
/** One compact IPv4 node: 20-byte id, 4-byte address, 2-byte port (BEP 5). */
export const COMPACT_NODE4_LENGTH = 26;
/** One compact IPv6 node: 20-byte id, 16-byte address, 2-byte port (BEP 32). */
export const COMPACT_NODE6_LENGTH = 38;
/** Longest client version `v` kept (clients send 4 bytes: two letters and a version). */
export const MAX_VERSION_BYTES = 32;
/** Longest query method name read (the BEP 5 names have at most 13 bytes). */
export const MAX_METHOD_BYTES = 64;
/** Longest error text read. */
export const MAX_ERROR_TEXT_BYTES = 512;

/** BEP 5 error codes. */
export const KrpcErrorCode = {
  generic: 201,
  server: 202,
  /** Malformed packet, invalid arguments or bad token. */
  protocol: 203,
  methodUnknown: 204,
} as const;

/** Caps on what a remote party can make the decoder hold; the encoder keeps to the same caps. */
export interface KrpcLimits {
  /** Largest datagram read or written (default 1500: one Ethernet-sized UDP payload). */
  maxMessageBytes: number;
  /** Most entries in `nodes`, and separately in `nodes6` (default 16; BEP 5 answers carry 8). */
  maxNodes: number;
  /** Most entries in `values` (default 200). */
  maxValues: number;
  /** Longest `token` (default 64 bytes). */
  maxTokenBytes: number;
  /** Longest transaction id `t` (default 16 bytes; clients use 2 to 4). */
  maxTransactionIdBytes: number;
  /** Refuse dictionaries whose keys are not in sorted order (default true: BEP 3 requires the order). */
  requireCanonical: boolean;
}

export const DEFAULT_KRPC_LIMITS: Readonly<KrpcLimits> = Object.freeze({
  maxMessageBytes: 1500,
  maxNodes: 16,
  maxValues: 200,
  maxTokenBytes: 64,
  maxTransactionIdBytes: 16,
  requireCanonical: true,
});

export type KrpcErrorCodeName =
  | 'BT_ERR_KRPC_TOO_LARGE'
  | 'BT_ERR_KRPC_BENCODE'
  | 'BT_ERR_KRPC_NONCANONICAL'
  | 'BT_ERR_KRPC_MESSAGE'
  | 'BT_ERR_KRPC_TYPE'
  | 'BT_ERR_KRPC_FIELD'
  | 'BT_ERR_KRPC_LIMIT'
  | 'BT_ERR_KRPC_RESPONSE'
  | 'BT_ERR_KRPC_ENCODE'
  | 'BT_ERR_KRPC_LIMITS';

/**
 * A refused KRPC message (or a message that cannot be encoded). When the refused datagram's transaction
 * id and kind could be read, they are given, so a node can still answer a malformed query with 203.
 */
export class KrpcError extends BtError {
  override readonly name = 'KrpcError';
  constructor(
    override readonly code: KrpcErrorCodeName,
    message: string,
    /** The refused message's `t`, when it was readable. */
    readonly transactionId?: Uint8Array,
    /** The refused message's `y`, when it was one of `q`, `r`, `e`. */
    readonly kind?: 'q' | 'r' | 'e',
  ) {
    super(code, `KRPC: ${message}`);
  }
}

/** A node as `nodes` / `nodes6` carry it. */
export interface CompactNode {
  /** 20 bytes. */
  id: Uint8Array;
  /** Normalised address text (see peer-address.ts): a dotted quad for family 4, RFC 5952 for family 6. */
  host: string;
  /** UDP port, 1..65535. */
  port: number;
  family: 4 | 6;
}

/** BEP 32: which address families of nodes a querying node wants. */
export type KrpcWant = 'n4' | 'n6';

/** Fields every message may carry. */
export interface KrpcCommon {
  /** Transaction id, 1..maxTransactionIdBytes bytes, echoed by the answer. */
  t: Uint8Array;
  /** Client version (at most {@link MAX_VERSION_BYTES} bytes). */
  v?: Uint8Array;
  /** BEP 42: the address and port the sender sees the receiver at (`ip`, 6 or 18 compact bytes). */
  ip?: PeerAddress;
}

interface KrpcQueryCommon extends KrpcCommon {
  y: 'q';
  /** The querying node's id (`a.id`). */
  id: Uint8Array;
  /** BEP 43 `ro`: true (1) for a read-only node, which must not be added to routing tables. */
  readOnly?: boolean;
}

export interface KrpcPing extends KrpcQueryCommon {
  q: 'ping';
}
export interface KrpcFindNode extends KrpcQueryCommon {
  q: 'find_node';
  target: Uint8Array;
  want?: KrpcWant[];
}
export interface KrpcGetPeers extends KrpcQueryCommon {
  q: 'get_peers';
  infoHash: Uint8Array;
  want?: KrpcWant[];
}
export interface KrpcAnnouncePeer extends KrpcQueryCommon {
  q: 'announce_peer';
  infoHash: Uint8Array;
  /**
   * TCP port of the announcing peer. With `impliedPort: true` the datagram's source port is meant instead,
   * and `port` may then be 0 or absent; otherwise it is 1..65535.
   */
  port?: number;
  token: Uint8Array;
  /** `implied_port` 1 (true) or 0 (false): use the datagram's source port instead of `port`. */
  impliedPort?: boolean;
}
/** A query for a method not modelled here (BEP 44 `get`/`put`, BEP 51 …): the node answers 204. */
export interface KrpcOtherQuery extends KrpcQueryCommon {
  q: 'other';
  /** The method name as sent (valid UTF-8, at most {@link MAX_METHOD_BYTES} bytes). */
  method: string;
}
export type KrpcQuery = KrpcPing | KrpcFindNode | KrpcGetPeers | KrpcAnnouncePeer | KrpcOtherQuery;
/** The methods this module models. */
export type KrpcMethod = Exclude<KrpcQuery['q'], 'other'>;

/** A response in its general shape: every field but `id` optional (see {@link readResponse}). */
export interface KrpcResponse extends KrpcCommon {
  y: 'r';
  id: Uint8Array;
  nodes?: CompactNode[];
  nodes6?: CompactNode[];
  values?: PeerAddress[];
  token?: Uint8Array;
}

/** An error message (`y: e`, `e: [code, text]`). */
export interface KrpcErrorReply extends KrpcCommon {
  y: 'e';
  code: number;
  message: string;
}

export type KrpcMessage = KrpcQuery | KrpcResponse | KrpcErrorReply;

// ---------------------------------------------------------------------------------------------
// Limits

/** Resolves partial limits against the defaults; throws `BT_ERR_KRPC_LIMITS` for a cap that is not a positive integer. */
export function resolveKrpcLimits(limits: Partial<KrpcLimits> = {}): KrpcLimits {
  const out = { ...DEFAULT_KRPC_LIMITS, ...limits };
  for (const k of ['maxMessageBytes', 'maxNodes', 'maxValues', 'maxTokenBytes', 'maxTransactionIdBytes'] as const) {
    const v = out[k];
    if (!Number.isSafeInteger(v) || v < 1) throw new KrpcError('BT_ERR_KRPC_LIMITS', `${k} must be a positive integer`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Compact nodes and peers

function portAt(bytes: Uint8Array, o: number): number {
  return (bytes[o]! << 8) | bytes[o + 1]!;
}

/**
 * Decodes a compact node list: `nodes` (family 4, 26-byte entries) or `nodes6` (family 6, 38-byte
 * entries, BEP 32). Throws a {@link KrpcError} `BT_ERR_KRPC_FIELD` when the length is not a multiple of the
 * entry size, an entry has port 0, or an IPv6 entry is IPv4-mapped (an IPv4 node belongs in `nodes`);
 * `BT_ERR_KRPC_LIMIT` above `maxNodes` entries (checked before anything is allocated).
 *
 * @example decodeNodes(bytes26, 4) // [{ id: Uint8Array(20), host: '10.0.0.1', port: 6881, family: 4 }]
 */
export function decodeNodes(bytes: Uint8Array, family: 4 | 6, maxNodes = DEFAULT_KRPC_LIMITS.maxNodes): CompactNode[] {
  const size = family === 4 ? COMPACT_NODE4_LENGTH : COMPACT_NODE6_LENGTH;
  const key = family === 4 ? 'nodes' : 'nodes6';
  if (bytes.length % size !== 0)
    throw new KrpcError('BT_ERR_KRPC_FIELD', `${key}: ${bytes.length} bytes is not a multiple of ${size}`);
  const n = bytes.length / size;
  if (n > maxNodes) throw new KrpcError('BT_ERR_KRPC_LIMIT', `${key}: ${n} entries, more than ${maxNodes}`);
  const out: CompactNode[] = [];
  for (let o = 0; o < bytes.length; o += size) {
    const a = o + NODE_ID_LENGTH;
    const port = portAt(bytes, a + (family === 4 ? 4 : 16));
    if (port === 0) throw new KrpcError('BT_ERR_KRPC_FIELD', `${key}: entry ${(o / size) | 0} has port 0`);
    if (family === 6 && isIPv4Mapped(bytes, a))
      throw new KrpcError('BT_ERR_KRPC_FIELD', `${key}: entry ${(o / size) | 0} is an IPv4-mapped address`);
    out.push({
      id: bytes.slice(o, a),
      host: family === 4 ? formatIPv4(bytes, a) : formatIPv6(bytes, a),
      port,
      family,
    });
  }
  return out;
}

function encodeError(message: string): KrpcError {
  return new KrpcError('BT_ERR_KRPC_ENCODE', message);
}

/** The address bytes of `host` in `family` (IPv4-mapped text does not count as IPv6), or an encode error. */
function addressBytes(host: string, family: 4 | 6, what: string): Uint8Array {
  const ip = parseIp(host);
  if (!ip || ip.family !== family || (family === 6 && isIPv4Mapped(ip.bytes)))
    throw encodeError(`${what}: ${host} is not an IPv${family} address`);
  return ip.bytes;
}

function checkPort(port: number, what: string, allowZero = false): number {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 0xffff)
    throw encodeError(`${what}: port ${String(port)} is not in ${allowZero ? 0 : 1}..65535`);
  return port;
}

function checkId(id: Uint8Array, what: string): Uint8Array {
  if (!(id instanceof Uint8Array) || id.length !== NODE_ID_LENGTH) throw encodeError(`${what} must be 20 bytes`);
  return id;
}

/**
 * Encodes nodes as a compact `nodes` (family 4) or `nodes6` (family 6) string. Throws `BT_ERR_KRPC_ENCODE`
 * for an id that is not 20 bytes, a host not of that family, or a port outside 1..65535.
 */
export function encodeNodes(nodes: readonly CompactNode[], family: 4 | 6): Uint8Array {
  const size = family === 4 ? COMPACT_NODE4_LENGTH : COMPACT_NODE6_LENGTH;
  const out = new Uint8Array(nodes.length * size);
  nodes.forEach((node, i) => {
    const o = i * size;
    out.set(checkId(node.id, `node ${i} id`), o);
    const ip = addressBytes(node.host, family, `node ${i}`);
    out.set(ip, o + NODE_ID_LENGTH);
    const port = checkPort(node.port, `node ${i}`);
    out[o + NODE_ID_LENGTH + ip.length] = port >> 8;
    out[o + NODE_ID_LENGTH + ip.length + 1] = port & 0xff;
  });
  return out;
}

/**
 * Decodes one compact peer: 6 bytes (IPv4, BEP 5) or 18 bytes (IPv6, BEP 32). Port 0 and an IPv4-mapped
 * 18-byte address are refused (`BT_ERR_KRPC_FIELD`): the first is nobody, the second would be one peer
 * written two ways.
 */
export function decodeCompactPeer(bytes: Uint8Array, what = 'peer'): PeerAddress {
  if (bytes.length !== 6 && bytes.length !== 18)
    throw new KrpcError('BT_ERR_KRPC_FIELD', `${what}: ${bytes.length} bytes, not 6 or 18`);
  const v4 = bytes.length === 6;
  const port = portAt(bytes, v4 ? 4 : 16);
  if (port === 0) throw new KrpcError('BT_ERR_KRPC_FIELD', `${what}: port 0`);
  if (!v4 && isIPv4Mapped(bytes, 0)) throw new KrpcError('BT_ERR_KRPC_FIELD', `${what}: IPv4-mapped address`);
  return v4 ? { host: formatIPv4(bytes, 0), port, family: 4 } : { host: formatIPv6(bytes, 0), port, family: 6 };
}

/** Encodes one peer as 6 (family 4) or 18 (family 6) compact bytes; `BT_ERR_KRPC_ENCODE` when it cannot. */
export function encodeCompactPeer(peer: PeerAddress, what = 'peer'): Uint8Array {
  const family = peer.family === 6 ? 6 : 4;
  const ip = addressBytes(peer.host, family, what);
  const out = new Uint8Array(ip.length + 2);
  out.set(ip, 0);
  const port = checkPort(peer.port, what);
  out[ip.length] = port >> 8;
  out[ip.length + 1] = port & 0xff;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding

const METHODS: ReadonlySet<string> = new Set(['ping', 'find_node', 'get_peers', 'announce_peer']);

/** Reads the modelled fields of one decoded message; `fail` tags every refusal with what is known of it. */
class Reader {
  t: Uint8Array | undefined;
  kind: 'q' | 'r' | 'e' | undefined;
  constructor(readonly limits: KrpcLimits) {}

  fail(code: KrpcErrorCodeName, message: string): never {
    throw new KrpcError(code, message, this.t, this.kind);
  }

  bytes(dict: BencodeDict, key: string, where: string): Uint8Array;
  bytes(dict: BencodeDict, key: string, where: string, optional: true): Uint8Array | undefined;
  bytes(dict: BencodeDict, key: string, where: string, optional = false): Uint8Array | undefined {
    const v = get(dict, key);
    if (v === undefined && optional) return undefined;
    if (v === undefined) this.fail('BT_ERR_KRPC_FIELD', `${where}${key} is missing`);
    if (!isBytes(v)) this.fail('BT_ERR_KRPC_FIELD', `${where}${key} is not a byte string`);
    return v;
  }

  id(dict: BencodeDict, key: string, where: string): Uint8Array {
    const v = this.bytes(dict, key, where);
    if (v.length !== NODE_ID_LENGTH) this.fail('BT_ERR_KRPC_FIELD', `${where}${key} is ${v.length} bytes, not 20`);
    return v;
  }

  /** An integer that is 0 or 1 (a flag), or undefined when absent. */
  flag(dict: BencodeDict, key: string, where: string): boolean | undefined {
    const v = get(dict, key);
    if (v === undefined) return undefined;
    if (v !== 0 && v !== 1) this.fail('BT_ERR_KRPC_FIELD', `${where}${key} is not 0 or 1`);
    return v === 1;
  }

  peer(v: BencodeValue, what: string): PeerAddress {
    if (!isBytes(v)) this.fail('BT_ERR_KRPC_FIELD', `${what} is not a byte string`);
    try {
      return decodeCompactPeer(v, what);
    } catch (err) {
      return this.fail((err as KrpcError).code, (err as KrpcError).message.replace(/^KRPC: /, ''));
    }
  }

  nodes(dict: BencodeDict, key: 'nodes' | 'nodes6', family: 4 | 6): CompactNode[] | undefined {
    const v = this.bytes(dict, key, 'r.', true);
    if (v === undefined) return undefined;
    try {
      return decodeNodes(v, family, this.limits.maxNodes);
    } catch (err) {
      return this.fail((err as KrpcError).code, `r.${(err as KrpcError).message.replace(/^KRPC: /, '')}`);
    }
  }

  want(a: BencodeDict): KrpcWant[] | undefined {
    const v = get(a, 'want');
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length > 2) this.fail('BT_ERR_KRPC_FIELD', 'a.want is not a list of at most 2 entries');
    return v.map((w) => {
      const s = isBytes(w) ? strictText(w) : null;
      if (s !== 'n4' && s !== 'n6') this.fail('BT_ERR_KRPC_FIELD', 'a.want holds something other than n4 or n6');
      return s;
    });
  }
}

/** True when encoding `value` gives back `bytes` (an integer the package cannot write counts as not). */
function readsBack(value: BencodeValue, bytes: Uint8Array): boolean {
  try {
    return equalBytes(encodeBencode(value), bytes);
  } catch {
    return false;
  }
}

/**
 * Decodes one KRPC datagram. Throws a {@link KrpcError} (`BT_ERR_KRPC_…`) for anything that is not a
 * valid message within `limits`; never another exception.
 */
export function decodeKrpc(bytes: Uint8Array, limits: Partial<KrpcLimits> = {}): KrpcMessage {
  const lim = resolveKrpcLimits(limits);
  if (bytes.length > lim.maxMessageBytes)
    throw new KrpcError('BT_ERR_KRPC_TOO_LARGE', `${bytes.length} bytes, more than ${lim.maxMessageBytes}`);
  let value: BencodeValue;
  let canonical: boolean;
  try {
    const d = decodeBencode(bytes, { maxDepth: 32 });
    value = d.value;
    canonical = d.scan.canonical;
  } catch (err) {
    throw new KrpcError('BT_ERR_KRPC_BENCODE', (err as Error).message);
  }
  if (!isDict(value)) throw new KrpcError('BT_ERR_KRPC_MESSAGE', 'not a dictionary');
  const r: Reader = new Reader(lim);
  const t = get(value, 't');
  if (isBytes(t) && t.length >= 1 && t.length <= lim.maxTransactionIdBytes) r.t = t;
  const y = get(value, 'y');
  const ys = isBytes(y) && y.length === 1 ? String.fromCharCode(y[0]!) : undefined;
  if (ys === 'q' || ys === 'r' || ys === 'e') r.kind = ys;

  if (lim.requireCanonical) {
    if (!canonical) r.fail('BT_ERR_KRPC_NONCANONICAL', 'dictionary keys out of order');
    // The bencode package names a key by its UTF-8 text without a leading BOM, or by the hex of bytes that
    // are not UTF-8: BOM+`id` would be read as `id` here and as another key elsewhere. Written back, such a
    // key (or an integer past 2^53) changes the bytes; every other canonical input comes back unchanged.
    if (!readsBack(value, bytes))
      r.fail('BT_ERR_KRPC_NONCANONICAL', 'a key or integer that does not read back as written');
  }
  if (t === undefined) r.fail('BT_ERR_KRPC_MESSAGE', 't is missing');
  if (!isBytes(t)) r.fail('BT_ERR_KRPC_MESSAGE', 't is not a byte string');
  if (t.length === 0) r.fail('BT_ERR_KRPC_MESSAGE', 't is empty');
  if (t.length > lim.maxTransactionIdBytes)
    r.fail('BT_ERR_KRPC_LIMIT', `t is ${t.length} bytes, more than ${lim.maxTransactionIdBytes}`);
  if (y === undefined) r.fail('BT_ERR_KRPC_MESSAGE', 'y is missing');
  if (!isBytes(y)) r.fail('BT_ERR_KRPC_MESSAGE', 'y is not a byte string');
  if (r.kind === undefined) r.fail('BT_ERR_KRPC_TYPE', 'y is not q, r or e');

  const common: KrpcCommon = { t };
  const v = r.bytes(value, 'v', '', true);
  if (v !== undefined) {
    if (v.length > MAX_VERSION_BYTES)
      r.fail('BT_ERR_KRPC_FIELD', `v is ${v.length} bytes, more than ${MAX_VERSION_BYTES}`);
    common.v = v;
  }
  const ip = get(value, 'ip');
  if (ip !== undefined) common.ip = r.peer(ip, 'ip');

  if (r.kind === 'q') return decodeQuery(r, value, common);
  if (r.kind === 'r') return decodeResponse(r, value, common);
  return decodeErrorReply(r, value, common);
}

function decodeQuery(r: Reader, msg: BencodeDict, common: KrpcCommon): KrpcQuery {
  const q = get(msg, 'q');
  if (!isBytes(q)) r.fail('BT_ERR_KRPC_MESSAGE', q === undefined ? 'q is missing' : 'q is not a byte string');
  const method = q.length <= MAX_METHOD_BYTES ? strictText(q) : null;
  if (method === null) r.fail('BT_ERR_KRPC_FIELD', `q is not a method name of at most ${MAX_METHOD_BYTES} UTF-8 bytes`);
  const a = get(msg, 'a');
  if (!isDict(a)) r.fail('BT_ERR_KRPC_MESSAGE', a === undefined ? 'a is missing' : 'a is not a dictionary');
  const base = { ...common, y: 'q' as const, id: r.id(a, 'id', 'a.') };
  const ro = r.flag(msg, 'ro', '');
  if (ro !== undefined) Object.assign(base, { readOnly: ro });
  if (!METHODS.has(method)) return { ...base, q: 'other', method };
  switch (method as KrpcMethod) {
    case 'ping':
      return { ...base, q: 'ping' };
    case 'find_node': {
      const out: KrpcFindNode = { ...base, q: 'find_node', target: r.id(a, 'target', 'a.') };
      const want = r.want(a);
      if (want) out.want = want;
      return out;
    }
    case 'get_peers': {
      const out: KrpcGetPeers = { ...base, q: 'get_peers', infoHash: r.id(a, 'info_hash', 'a.') };
      const want = r.want(a);
      if (want) out.want = want;
      return out;
    }
    case 'announce_peer': {
      const infoHash = r.id(a, 'info_hash', 'a.');
      const token = r.bytes(a, 'token', 'a.');
      if (token.length > r.limits.maxTokenBytes)
        r.fail('BT_ERR_KRPC_LIMIT', `a.token is ${token.length} bytes, more than ${r.limits.maxTokenBytes}`);
      const impliedPort = r.flag(a, 'implied_port', 'a.');
      const port = get(a, 'port');
      const out: KrpcAnnouncePeer = { ...base, q: 'announce_peer', infoHash, token };
      // bittorrent-dht leaves `port` out when it announces with implied_port 1 and no port of its own.
      if (port === undefined) {
        if (impliedPort !== true) r.fail('BT_ERR_KRPC_FIELD', 'a.port is missing without implied_port');
      } else {
        if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 0xffff)
          r.fail('BT_ERR_KRPC_FIELD', 'a.port is not in 0..65535');
        if (port === 0 && impliedPort !== true) r.fail('BT_ERR_KRPC_FIELD', 'a.port is 0 without implied_port');
        out.port = port;
      }
      if (impliedPort !== undefined) out.impliedPort = impliedPort;
      return out;
    }
  }
}

function decodeResponse(r: Reader, msg: BencodeDict, common: KrpcCommon): KrpcResponse {
  const body = get(msg, 'r');
  if (!isDict(body)) r.fail('BT_ERR_KRPC_MESSAGE', body === undefined ? 'r is missing' : 'r is not a dictionary');
  const out: KrpcResponse = { ...common, y: 'r', id: r.id(body, 'id', 'r.') };
  const nodes = r.nodes(body, 'nodes', 4);
  if (nodes) out.nodes = nodes;
  const nodes6 = r.nodes(body, 'nodes6', 6);
  if (nodes6) out.nodes6 = nodes6;
  const values = get(body, 'values');
  if (values !== undefined) {
    if (!Array.isArray(values)) r.fail('BT_ERR_KRPC_FIELD', 'r.values is not a list');
    if (values.length > r.limits.maxValues)
      r.fail('BT_ERR_KRPC_LIMIT', `r.values has ${values.length} entries, more than ${r.limits.maxValues}`);
    out.values = values.map((p, i) => r.peer(p, `r.values[${i}]`));
  }
  const token = r.bytes(body, 'token', 'r.', true);
  if (token !== undefined) {
    if (token.length > r.limits.maxTokenBytes)
      r.fail('BT_ERR_KRPC_LIMIT', `r.token is ${token.length} bytes, more than ${r.limits.maxTokenBytes}`);
    out.token = token;
  }
  return out;
}

function decodeErrorReply(r: Reader, msg: BencodeDict, common: KrpcCommon): KrpcErrorReply {
  const e = get(msg, 'e');
  if (e === undefined) r.fail('BT_ERR_KRPC_MESSAGE', 'e is missing');
  if (!Array.isArray(e) || e.length !== 2) r.fail('BT_ERR_KRPC_MESSAGE', 'e is not a list [code, message]');
  const [code, text] = e as [BencodeValue, BencodeValue];
  if (typeof code !== 'number' || !Number.isSafeInteger(code))
    r.fail('BT_ERR_KRPC_FIELD', 'e[0] (the error code) is not an integer');
  const message = isBytes(text) && text.length <= MAX_ERROR_TEXT_BYTES ? strictText(text) : null;
  if (message === null)
    r.fail('BT_ERR_KRPC_FIELD', `e[1] (the error text) is not UTF-8 text of at most ${MAX_ERROR_TEXT_BYTES} bytes`);
  return { ...common, y: 'e', code, message };
}

// ---------------------------------------------------------------------------------------------
// Reading a response as the answer to a given query

export interface PingResponse {
  id: Uint8Array;
}
export interface FindNodeResponse {
  id: Uint8Array;
  /** IPv4 nodes (`nodes`), empty when the key was absent. */
  nodes: CompactNode[];
  /** IPv6 nodes (`nodes6`), empty when the key was absent. */
  nodes6: CompactNode[];
}
export interface GetPeersResponse {
  id: Uint8Array;
  token: Uint8Array;
  /** Peers for the info hash (`values`), empty when the key was absent. */
  values: PeerAddress[];
  nodes: CompactNode[];
  nodes6: CompactNode[];
}
export interface AnnouncePeerResponse {
  id: Uint8Array;
}
export interface KrpcResponseFor {
  ping: PingResponse;
  find_node: FindNodeResponse;
  get_peers: GetPeersResponse;
  announce_peer: AnnouncePeerResponse;
}

/**
 * Reads a response as the answer to a query of `method` (the node knows which query it sent under that
 * transaction id). Throws `BT_ERR_KRPC_RESPONSE` when it lacks what that answer needs: `find_node` needs
 * `nodes` or `nodes6`; `get_peers` needs `token` (and may carry `values`, `nodes`, `nodes6`, or nothing when
 * the node knows no one). Fields a kind does not use are not carried over.
 *
 * @example
 * const { token, values, nodes } = readResponse('get_peers', decodeKrpc(datagram) as KrpcResponse);
 */
export function readResponse<M extends KrpcMethod>(method: M, r: KrpcResponse): KrpcResponseFor[M] {
  const bad = (why: string): KrpcError => new KrpcError('BT_ERR_KRPC_RESPONSE', `${method} response ${why}`, r.t, 'r');
  switch (method) {
    case 'ping':
    case 'announce_peer':
      return { id: r.id } as KrpcResponseFor[M];
    case 'find_node':
      if (r.nodes === undefined && r.nodes6 === undefined) throw bad('has neither nodes nor nodes6');
      return { id: r.id, nodes: r.nodes ?? [], nodes6: r.nodes6 ?? [] } as KrpcResponseFor[M];
    case 'get_peers':
      if (r.token === undefined) throw bad('has no token');
      return {
        id: r.id,
        token: r.token,
        values: r.values ?? [],
        nodes: r.nodes ?? [],
        nodes6: r.nodes6 ?? [],
      } as KrpcResponseFor[M];
    default:
      throw bad('is for a method this module does not model');
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

function checkBytes(v: unknown, what: string, min: number, max: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length < min || v.length > max)
    throw encodeError(`${what} must be ${min}..${max} bytes`);
  return v;
}

function encodeWant(want: readonly KrpcWant[]): string[] {
  if (!Array.isArray(want) || want.length > 2 || want.some((w) => w !== 'n4' && w !== 'n6'))
    throw encodeError('want must be at most 2 of n4, n6');
  return [...want];
}

const textEncoder = new TextEncoder();

/** UTF-8 of `s`, or null when `s` holds a lone surrogate (written as U+FFFD, it would not come back as given). */
function utf8Exact(s: string): Uint8Array | null {
  const bytes = textEncoder.encode(s);
  return strictText(bytes) === s ? bytes : null;
}

function checkCount<T>(list: readonly T[], max: number, what: string): readonly T[] {
  if (!Array.isArray(list) || list.length > max) throw encodeError(`${what}: more than ${max} entries`);
  return list;
}

/**
 * Encodes a message as canonical bencode (keys sorted). Throws `BT_ERR_KRPC_ENCODE` for a field
 * {@link decodeKrpc} would refuse (ids not 20 bytes, bad ports, too many nodes or values, a `t` or token
 * outside the caps …) and `BT_ERR_KRPC_TOO_LARGE` when the result exceeds `maxMessageBytes`; so whatever it
 * returns decodes, with the same limits, to the message given.
 *
 * @example encodeKrpc({ y: 'q', q: 'ping', t: Uint8Array.of(0x61, 0x61), id }) // d1:ad2:id20:…e1:q4:ping1:t2:aa1:y1:qe
 */
export function encodeKrpc(msg: KrpcMessage, limits: Partial<KrpcLimits> = {}): Uint8Array {
  const lim = resolveKrpcLimits(limits);
  const out: Record<string, unknown> = {
    t: checkBytes(msg.t, 't', 1, lim.maxTransactionIdBytes),
    y: msg.y,
  };
  if (msg.v !== undefined) out.v = checkBytes(msg.v, 'v', 0, MAX_VERSION_BYTES);
  if (msg.ip !== undefined) out.ip = encodeCompactPeer(msg.ip, 'ip');
  switch (msg.y) {
    case 'q': {
      const a: Record<string, unknown> = { id: checkId(msg.id, 'a.id') };
      if (msg.readOnly !== undefined) out.ro = msg.readOnly ? 1 : 0;
      switch (msg.q) {
        case 'ping':
          break;
        case 'find_node':
          a.target = checkId(msg.target, 'a.target');
          if (msg.want !== undefined) a.want = encodeWant(msg.want);
          break;
        case 'get_peers':
          a.info_hash = checkId(msg.infoHash, 'a.info_hash');
          if (msg.want !== undefined) a.want = encodeWant(msg.want);
          break;
        case 'announce_peer':
          a.info_hash = checkId(msg.infoHash, 'a.info_hash');
          if (msg.port !== undefined || msg.impliedPort !== true)
            a.port = checkPort(msg.port as number, 'a.port', msg.impliedPort === true);
          a.token = checkBytes(msg.token, 'a.token', 0, lim.maxTokenBytes);
          if (msg.impliedPort !== undefined) a.implied_port = msg.impliedPort ? 1 : 0;
          break;
        case 'other': {
          const name = typeof msg.method === 'string' ? utf8Exact(msg.method) : null;
          if (name === null || name.length > MAX_METHOD_BYTES || METHODS.has(msg.method))
            throw encodeError(`method must be a name of at most ${MAX_METHOD_BYTES} bytes, not a modelled one`);
          out.q = name;
          break;
        }
        default:
          throw encodeError(`unknown query kind ${String((msg as { q: unknown }).q)}`);
      }
      if (out.q === undefined) out.q = msg.q;
      out.a = a;
      break;
    }
    case 'r': {
      const r: Record<string, unknown> = { id: checkId(msg.id, 'r.id') };
      if (msg.nodes !== undefined) r.nodes = encodeNodes(checkCount(msg.nodes, lim.maxNodes, 'r.nodes'), 4);
      if (msg.nodes6 !== undefined) r.nodes6 = encodeNodes(checkCount(msg.nodes6, lim.maxNodes, 'r.nodes6'), 6);
      if (msg.values !== undefined)
        r.values = checkCount(msg.values, lim.maxValues, 'r.values').map((p, i) =>
          encodeCompactPeer(p, `r.values[${i}]`),
        );
      if (msg.token !== undefined) r.token = checkBytes(msg.token, 'r.token', 0, lim.maxTokenBytes);
      out.r = r;
      break;
    }
    case 'e': {
      if (!Number.isSafeInteger(msg.code)) throw encodeError('e code must be an integer');
      const text = typeof msg.message === 'string' ? utf8Exact(msg.message) : null;
      if (text === null || text.length > MAX_ERROR_TEXT_BYTES)
        throw encodeError(`e text must be well-formed text of at most ${MAX_ERROR_TEXT_BYTES} UTF-8 bytes`);
      out.e = [msg.code, text];
      break;
    }
    default:
      throw encodeError(`unknown message kind ${String((msg as { y: unknown }).y)}`);
  }
  const bytes = encodeBencode(out);
  if (bytes.length > lim.maxMessageBytes)
    throw new KrpcError('BT_ERR_KRPC_TOO_LARGE', `encoded ${bytes.length} bytes, more than ${lim.maxMessageBytes}`);
  return bytes;
}
