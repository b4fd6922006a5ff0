/**
 * The answering side of a DHT node (BEP 5, with BEP 32 `want`/`nodes6`, BEP 42 `ip` and BEP 43 `ro`):
 * given a decoded query and the address it came from, the KRPC message to send back.
 *
 * - `ping` → our id; `find_node` → the 8 closest nodes we know to the target; `get_peers` → the peers
 *   announced for the info hash (`values`) if we hold any, else the 8 closest nodes, and a token;
 *   `announce_peer` → the token is checked (203 "bad token" otherwise), the peer stored (its `port`, or
 *   the datagram's source port with `implied_port`), our id; any other method → 204 "Method Unknown".
 * - Every answer carries `ip`, the address we see the querier at (BEP 42), so it can learn its own.
 * - Size: the encoded answer stays ≤ `maxReplyBytes` (1,000); to a sender we have not verified (not a
 *   node in our table at that address that answered us) it also stays ≤ max(`unverifiedFloorBytes`,
 *   `amplification` × the query's size) when the query's size is given — `values` are cut first, then
 *   nodes. No amplification worth a spoofer's while.
 * - The table is not changed here: `remember` names the querier the caller offers to
 *   `table.onQuery` — none for a read-only querier (BEP 43 `ro`) or one using our own id.
 * - With `readOnlyNode` (we are read-only, BEP 43) nothing is answered (`reply` undefined).
 *
 * Pure but for the store it is given (announce_peer adds to it; get_peers samples it) and the token
 * issuer's lazy rotation; both belong to the DHT node actor, which calls this in a named action.
 *
 * @example
 * const q = decodeKrpc(datagram);
 * if (q.y === 'q' && limiter.allow(from.host, now)) {
 *   const { reply, remember } = answerQuery(q, from, { ownId, table, store, tokens, now, queryBytes: datagram.length });
 *   if (reply) send(encodeKrpc(reply), from);
 *   if (remember) table.onQuery(remember, now);
 * }
 */
import {
  type CompactNode,
  type KrpcError,
  KrpcErrorCode,
  type KrpcErrorReply,
  type KrpcQuery,
  type KrpcResponse,
  type KrpcWant,
  DEFAULT_KRPC_LIMITS,
  encodeKrpc,
} from '../../protocol/krpc.js';
import { type PeerAddress, normaliseHost } from '../../protocol/peer-address.js';
import { type NodeContact, type NodeId, idEquals } from './node-id.js';
import type { PeerStore } from './peer-store.js';
import { K, type RoutingNode, type RoutingTable } from './routing-table.js';
import type { TokenIssuer } from './tokens.js';

/** The hard cap on an encoded answer. */
export const MAX_REPLY_BYTES = 1_000;
/** An answer to an unverified sender may always be this large (8 nodes and a token fit). */
export const UNVERIFIED_FLOOR_BYTES = 400;
/** … or this many times its query's size, whichever is more. */
export const AMPLIFICATION = 4;
/** Most `values` in one answer (50 IPv4 peers encode to 400 bytes). */
export const MAX_REPLY_VALUES = 50;

export interface AnswerContext {
  ownId: NodeId;
  table: RoutingTable;
  store: PeerStore;
  tokens: TokenIssuer;
  now: number;
  /** We are a read-only node (BEP 43): answer nothing. */
  readOnlyNode?: boolean;
  /** Size of the query datagram, for the amplification bound. */
  queryBytes?: number;
  /** Default {@link MAX_REPLY_BYTES}. */
  maxReplyBytes?: number;
  /** Default {@link UNVERIFIED_FLOOR_BYTES}. */
  unverifiedFloorBytes?: number;
  /** Default {@link AMPLIFICATION}. */
  amplification?: number;
  /** Default {@link MAX_REPLY_VALUES}. */
  maxValues?: number;
  /** Our client version `v` to put in answers. */
  version?: Uint8Array;
}

export interface Answer {
  /** The message to send back to `from`, or undefined when we answer nothing. */
  reply: KrpcResponse | KrpcErrorReply | undefined;
  /** The querier to offer to `table.onQuery`, or undefined (read-only querier, our own id). */
  remember: NodeContact | undefined;
  /** For announce_peer: what the store did with it. */
  stored?: 'added' | 'refreshed' | 'rejected';
}

/** BEP 5 / libtorrent texts for the errors sent. */
export const ERROR_TEXT = {
  badToken: 'bad token',
  methodUnknown: 'Method Unknown',
  badPort: 'invalid port',
} as const;

const familyOfNode = (n: RoutingNode): 4 | 6 => (n.host.includes(':') ? 6 : 4);

function compactOf(n: RoutingNode): CompactNode {
  return { id: n.id, host: n.host, port: n.port, family: familyOfNode(n) };
}

/**
 * The k closest nodes of one family: good ones first, then questionable ones to fill (never bad). Looks at
 * the 4k closest first and at the whole table only when they hold too few of the family.
 */
function closestOf(table: RoutingTable, target: NodeId, family: 4 | 6, now: number): CompactNode[] {
  const pick = (wide: number): RoutingNode[] => {
    const out = table.closest(target, wide, now, { goodOnly: true }).filter((n) => familyOfNode(n) === family);
    if (out.length >= K) return out.slice(0, K);
    const seen = new Set(out.map((n) => n.key));
    for (const n of table.closest(target, wide, now)) {
      if (out.length >= K) break;
      if (!seen.has(n.key) && familyOfNode(n) === family) out.push(n);
    }
    return out;
  };
  let out = pick(Math.min(table.size, 4 * K));
  if (out.length < K && table.size > 4 * K) out = pick(table.size);
  return out.map(compactOf);
}

/** Which families of nodes to send: those asked for (BEP 32 `want`), else the querier's own. */
function families(want: KrpcWant[] | undefined, querier: 4 | 6): { n4: boolean; n6: boolean } {
  if (want && want.length > 0) return { n4: want.includes('n4'), n6: want.includes('n6') };
  return { n4: querier === 4, n6: querier === 6 };
}

function isVerified(table: RoutingTable, id: NodeId, from: { host: string; port: number }): boolean {
  const known = table.get(id);
  return (
    known !== undefined && known.lastResponse !== undefined && known.host === from.host && known.port === from.port
  );
}

/** Cuts `values`, then `nodes6`, then `nodes` until the encoded reply fits in `cap` bytes. */
function fit(reply: KrpcResponse, cap: number): KrpcResponse {
  const lists = ['values', 'nodes6', 'nodes'] as const;
  for (;;) {
    const size = encodeKrpc(reply).length;
    if (size <= cap) return reply;
    const key = lists.find((k) => (reply[k]?.length ?? 0) > 0);
    if (key === undefined) return reply; // nothing left to cut: the bare answer (≈ 100 bytes)
    const list = reply[key]!;
    const each = key === 'values' ? ((list[0] as PeerAddress).family === 6 ? 21 : 8) : key === 'nodes6' ? 38 : 26;
    const cut = Math.max(1, Math.ceil((size - cap) / each));
    reply = { ...reply, [key]: list.slice(0, Math.max(0, list.length - cut)) };
  }
}

/**
 * The answer to `query` from `from` (its normalised host and UDP source port); see the module comment.
 */
export function answerQuery(query: KrpcQuery, from: { host: string; port: number }, ctx: AnswerContext): Answer {
  const addr = normaliseHost(from.host);
  const host = addr?.host ?? from.host;
  const family = addr?.family ?? 4;
  const remember: NodeContact | undefined =
    query.readOnly === true || idEquals(query.id, ctx.ownId) ? undefined : { id: query.id, host, port: from.port };
  if (ctx.readOnlyNode) return { reply: undefined, remember };

  const common: { t: Uint8Array; v?: Uint8Array; ip?: PeerAddress } = { t: query.t };
  if (ctx.version) common.v = ctx.version;
  if (addr && Number.isInteger(from.port) && from.port >= 1 && from.port <= 0xffff)
    common.ip = { host, port: from.port, family };
  const error = (code: number, message: string): KrpcErrorReply => ({ ...common, y: 'e', code, message });
  const base: KrpcResponse = { ...common, y: 'r', id: ctx.ownId };

  const maxBytes = Math.min(ctx.maxReplyBytes ?? MAX_REPLY_BYTES, DEFAULT_KRPC_LIMITS.maxMessageBytes);
  const unverifiedCap = Math.max(
    ctx.unverifiedFloorBytes ?? UNVERIFIED_FLOOR_BYTES,
    (ctx.amplification ?? AMPLIFICATION) * (ctx.queryBytes ?? 0),
  );
  const verified = isVerified(ctx.table, query.id, { host, port: from.port });
  const cap = ctx.queryBytes !== undefined && !verified ? Math.min(maxBytes, unverifiedCap) : maxBytes;
  const maxValues = Math.max(0, Math.min(ctx.maxValues ?? MAX_REPLY_VALUES, DEFAULT_KRPC_LIMITS.maxValues));

  switch (query.q) {
    case 'ping':
      return { reply: base, remember };
    case 'find_node': {
      const want = families(query.want, family);
      const reply: KrpcResponse = { ...base };
      if (want.n4) reply.nodes = closestOf(ctx.table, query.target, 4, ctx.now);
      if (want.n6) reply.nodes6 = closestOf(ctx.table, query.target, 6, ctx.now);
      return { reply: fit(reply, cap), remember };
    }
    case 'get_peers': {
      const reply: KrpcResponse = { ...base, token: ctx.tokens.tokenFor(host, ctx.now) };
      const values = maxValues > 0 ? ctx.store.get(query.infoHash, ctx.now, maxValues, family) : [];
      if (values.length > 0) {
        reply.values = values.map((p) => ({ host: p.host, port: p.port, family: p.family }));
      } else {
        const want = families(query.want, family);
        if (want.n4) reply.nodes = closestOf(ctx.table, query.infoHash, 4, ctx.now);
        if (want.n6) reply.nodes6 = closestOf(ctx.table, query.infoHash, 6, ctx.now);
      }
      return { reply: fit(reply, cap), remember };
    }
    case 'announce_peer': {
      if (!ctx.tokens.validToken(query.token, host, ctx.now))
        return { reply: error(KrpcErrorCode.protocol, ERROR_TEXT.badToken), remember };
      const port = query.impliedPort === true ? from.port : query.port;
      if (port === undefined || !Number.isInteger(port) || port < 1 || port > 0xffff)
        return { reply: error(KrpcErrorCode.protocol, ERROR_TEXT.badPort), remember };
      const stored = addr ? ctx.store.add(query.infoHash, { host, port, family }, ctx.now) : 'rejected';
      return { reply: base, remember, stored };
    }
    case 'other':
      return { reply: error(KrpcErrorCode.methodUnknown, ERROR_TEXT.methodUnknown), remember };
  }
}

/**
 * The 203 answer to a query the decoder refused, when its transaction id could be read (BEP 5: "Protocol
 * Error, such as a malformed packet, invalid arguments"); undefined for anything else (not answered).
 */
export function answerMalformed(err: KrpcError, version?: Uint8Array): KrpcErrorReply | undefined {
  if (err.kind !== 'q' || err.transactionId === undefined) return undefined;
  const reply: KrpcErrorReply = {
    y: 'e',
    t: err.transactionId,
    code: KrpcErrorCode.protocol,
    message: 'invalid query',
  };
  if (version) reply.v = version;
  return reply;
}
