/**
 * The iterative lookup of BEP 5 (find_node and get_peers) as a pure reducer over an immutable state:
 * `startLookup` takes the target and seeds (the closest nodes of our routing table) and says whom to
 * query; each answer (`lookupResponse`), timeout (`lookupTimeout`) or slow query (`lookupSlow`) gives
 * the next state and the next queries. The caller sends the queries, runs the timers (each outstanding
 * query a small actor) and matches answers by transaction id and address before calling in.
 *
 * Policy: at most α = 3 queries in flight, always to the closest nodes not yet asked, among the k = 8
 * closest nodes that have not failed. The lookup has converged when those k closest have all answered
 * (no closer node remains to ask). Every node learned is one hop ("round") further than the node that
 * named it; seeds are round 1.
 *
 * Bounded, since the nodes we ask choose what we learn: at most `maxNodesPerResponse` nodes taken from
 * one answer, `maxTracked` unasked nodes kept (the farthest dropped), `maxQueries` queries in all,
 * `maxValues` peers (deduplicated), tokens of at most {@link MAX_TOKEN_LENGTH} bytes.
 */
import { peerKey, type PeerAddress } from '../../protocol/peer-address.js';
import { type NodeContact, type NodeId, compareDistance, idEquals, idToHex, isNodeId } from './node-id.js';

/** The longest token kept for announce_peer (libtorrent's are 4 bytes, bittorrent-dht's 20). */
export const MAX_TOKEN_LENGTH = 64;

export interface LookupOptions {
  /** How many closest nodes must answer. Default 8 (BEP 5's k). */
  k?: number;
  /** Queries in flight at once. Default 3. */
  alpha?: number;
  /** Unasked nodes kept at most. Default 128. */
  maxTracked?: number;
  /** Queries sent at most. Default 64. */
  maxQueries?: number;
  /** Peers (get_peers `values`) kept at most. Default 500. */
  maxValues?: number;
  /** Nodes taken from one answer at most. Default 16 (8 from `nodes`, 8 from `nodes6`). */
  maxNodesPerResponse?: number;
  /** Our own id: never a node to ask. */
  ownId?: NodeId;
}

type Settings = Required<Omit<LookupOptions, 'ownId'>> & { ownId: NodeId | undefined };

export type CandidateState = 'waiting' | 'pending' | 'slow' | 'responded' | 'failed';

/** A node the lookup knows of. */
export interface LookupCandidate {
  readonly contact: NodeContact;
  /** `host|port`: answers are matched by address. */
  readonly address: string;
  /** Hex of the id: a node is tracked once per id and once per address. */
  readonly key: string;
  readonly state: CandidateState;
  /** 1 for seeds, one more than the node that named it for the others. */
  readonly round: number;
  /** The token its get_peers answer gave (for announce_peer). */
  readonly token: Uint8Array | undefined;
}

export interface LookupState {
  readonly target: NodeId;
  readonly settings: Readonly<Settings>;
  /** Closest to the target first. */
  readonly candidates: readonly LookupCandidate[];
  /** Queries outstanding and not slow (these count against α). */
  readonly inFlight: number;
  /** Queries sent so far. */
  readonly queries: number;
  /** The deepest round queried so far. */
  readonly rounds: number;
  /** Peers found, deduplicated, in the order learned. */
  readonly values: readonly PeerAddress[];
  readonly valueKeys: ReadonlySet<string>;
  /** Converged (or out of budget): no more queries will be asked for. */
  readonly done: boolean;
}

/** A state and the nodes to query now (each once; the caller marks nothing). */
export interface LookupStep {
  state: LookupState;
  query: NodeContact[];
}

/** What an answer carried (decoded by the KRPC codec). */
export interface LookupReply {
  /** The id in the answer (`r.id`); an answer whose id is not the one we asked is a failure. */
  id: NodeId;
  nodes?: readonly NodeContact[];
  values?: readonly PeerAddress[];
  token?: Uint8Array;
}

export interface LookupResult {
  /** The k closest nodes that answered, closest first, with their tokens. */
  closest: { contact: NodeContact; token: Uint8Array | undefined }[];
  values: readonly PeerAddress[];
  done: boolean;
  queries: number;
  rounds: number;
}

const addressOf = (c: NodeContact): string => `${c.host}|${c.port}`;

function validContact(c: NodeContact, settings: Settings): boolean {
  return (
    isNodeId(c.id) &&
    typeof c.host === 'string' &&
    c.host.length > 0 &&
    Number.isInteger(c.port) &&
    c.port >= 1 &&
    c.port <= 0xffff &&
    !(settings.ownId && idEquals(settings.ownId, c.id))
  );
}

/**
 * Starts a lookup for `target` from `seeds` (the closest nodes of the routing table).
 *
 * @example
 * let { state, query } = startLookup(infoHash, table.closest(infoHash, 8, now));
 * // send get_peers to each of `query`; on an answer:
 * ({ state, query } = lookupResponse(state, from, { id, nodes, values, token }));
 */
export function startLookup(target: NodeId, seeds: readonly NodeContact[], options: LookupOptions = {}): LookupStep {
  if (!isNodeId(target)) throw new RangeError('a lookup target is 20 bytes');
  const k = Math.max(1, options.k ?? 8);
  const settings: Settings = {
    k,
    alpha: Math.max(1, options.alpha ?? 3),
    maxTracked: Math.max(k, options.maxTracked ?? 128),
    maxQueries: Math.max(1, options.maxQueries ?? 64),
    maxValues: Math.max(0, options.maxValues ?? 500),
    maxNodesPerResponse: Math.max(0, options.maxNodesPerResponse ?? 16),
    ownId: options.ownId,
  };
  const state: LookupState = {
    target: Uint8Array.from(target),
    settings,
    candidates: [],
    inFlight: 0,
    queries: 0,
    rounds: 0,
    values: [],
    valueKeys: new Set(),
    done: false,
  };
  const candidates = merge(state, state.candidates, seeds.slice(0, settings.maxTracked), 1);
  return advance({ ...state, candidates });
}

/**
 * An answer from `from` (matched by the caller by transaction id and address). An answer from a node
 * not queried, or already answered or failed, changes nothing; one whose id is not the id we asked
 * fails that node and its nodes are not used.
 */
export function lookupResponse(
  state: LookupState,
  from: Pick<NodeContact, 'host' | 'port'>,
  reply: LookupReply,
): LookupStep {
  const address = addressOf(from as NodeContact);
  const at = state.candidates.findIndex((c) => c.address === address);
  const c = state.candidates[at];
  if (!c || (c.state !== 'pending' && c.state !== 'slow')) return { state, query: [] };
  const inFlight = state.inFlight - (c.state === 'pending' ? 1 : 0);
  if (!isNodeId(reply.id) || !idEquals(reply.id, c.contact.id)) {
    return advance({ ...state, inFlight, candidates: replaceAt(state.candidates, at, { ...c, state: 'failed' }) });
  }
  const token =
    reply.token instanceof Uint8Array && reply.token.length <= MAX_TOKEN_LENGTH
      ? Uint8Array.from(reply.token)
      : undefined;
  let candidates = replaceAt(state.candidates, at, { ...c, state: 'responded', token });
  const learned = (reply.nodes ?? []).slice(0, state.settings.maxNodesPerResponse);
  if (learned.length > 0) candidates = merge(state, candidates, learned, c.round + 1);
  let { values, valueKeys } = state;
  if (reply.values && reply.values.length > 0 && values.length < state.settings.maxValues) {
    const added: PeerAddress[] = [];
    const keys = new Set(valueKeys);
    for (const v of reply.values) {
      if (values.length + added.length >= state.settings.maxValues) break;
      if (!Number.isInteger(v.port) || v.port < 1 || v.port > 0xffff) continue;
      const key = peerKey(v);
      if (keys.has(key)) continue;
      keys.add(key);
      added.push(v);
    }
    if (added.length > 0) {
      values = [...values, ...added];
      valueKeys = keys;
    }
  }
  return advance({ ...state, inFlight, candidates, values, valueKeys });
}

/** The query to `from` timed out: that node failed. */
export function lookupTimeout(state: LookupState, from: Pick<NodeContact, 'host' | 'port'>): LookupStep {
  const address = addressOf(from as NodeContact);
  const at = state.candidates.findIndex((c) => c.address === address);
  const c = state.candidates[at];
  if (!c || (c.state !== 'pending' && c.state !== 'slow')) return { state, query: [] };
  const inFlight = state.inFlight - (c.state === 'pending' ? 1 : 0);
  return advance({ ...state, inFlight, candidates: replaceAt(state.candidates, at, { ...c, state: 'failed' }) });
}

/**
 * The query to `from` is slow (a short timeout passed): it no longer counts against α, so another
 * node is asked, but its answer is still taken if it comes before the full timeout.
 */
export function lookupSlow(state: LookupState, from: Pick<NodeContact, 'host' | 'port'>): LookupStep {
  const address = addressOf(from as NodeContact);
  const at = state.candidates.findIndex((c) => c.address === address);
  const c = state.candidates[at];
  if (!c || c.state !== 'pending') return { state, query: [] };
  return advance({
    ...state,
    inFlight: state.inFlight - 1,
    candidates: replaceAt(state.candidates, at, { ...c, state: 'slow' }),
  });
}

/** The k closest nodes that answered (with their tokens), the peers found, and the counters. */
export function lookupResult(state: LookupState): LookupResult {
  const closest: LookupResult['closest'] = [];
  for (const c of state.candidates) {
    if (closest.length >= state.settings.k) break;
    if (c.state === 'responded') closest.push({ contact: c.contact, token: c.token });
  }
  return { closest, values: state.values, done: state.done, queries: state.queries, rounds: state.rounds };
}

function replaceAt<T>(list: readonly T[], at: number, item: T): T[] {
  const copy = list.slice();
  copy[at] = item;
  return copy;
}

/** Adds the nodes not tracked yet (by id and by address), keeps the list sorted, trims the far unasked. */
function merge(
  state: LookupState,
  current: readonly LookupCandidate[],
  nodes: readonly NodeContact[],
  round: number,
): LookupCandidate[] {
  const { target, settings } = state;
  const base = current;
  const ids = new Set(base.map((c) => c.key));
  const addresses = new Set(base.map((c) => c.address));
  const added: LookupCandidate[] = [];
  for (const n of nodes) {
    if (!validContact(n, settings)) continue;
    const key = idToHex(n.id);
    const address = addressOf(n);
    if (ids.has(key) || addresses.has(address)) continue;
    ids.add(key);
    addresses.add(address);
    added.push({
      contact: { id: Uint8Array.from(n.id), host: n.host, port: n.port },
      address,
      key,
      state: 'waiting',
      round,
      token: undefined,
    });
  }
  if (added.length === 0) return base.slice();
  const all = [...base, ...added].sort((a, b) => compareDistance(target, a.contact.id, b.contact.id));
  // Keep every node asked (its answer must still match) and the closest `maxTracked` unasked ones.
  let waiting = 0;
  return all.filter((c) => c.state !== 'waiting' || ++waiting <= settings.maxTracked);
}

/** Picks the next queries and decides whether the lookup is done. */
function advance(state: LookupState): LookupStep {
  const { k, alpha, maxQueries } = state.settings;
  let { inFlight, queries, rounds } = state;
  const query: NodeContact[] = [];
  let candidates = state.candidates as LookupCandidate[];
  let copied = false;
  let rank = 0;
  let open = false; // a node among the k closest still to be asked or answering
  for (let i = 0; i < candidates.length && rank < k; i++) {
    const c = candidates[i]!;
    if (c.state === 'failed') continue;
    rank++;
    if (c.state === 'waiting' && !state.done && inFlight < alpha && queries < maxQueries) {
      if (!copied) {
        candidates = candidates.slice();
        copied = true;
      }
      candidates[i] = { ...c, state: 'pending' };
      inFlight++;
      queries++;
      rounds = Math.max(rounds, c.round);
      query.push(c.contact);
      open = true;
    } else if (c.state === 'pending' || c.state === 'slow') {
      open = true;
    } else if (c.state === 'waiting' && queries < maxQueries && !state.done) {
      open = true;
    }
  }
  const done = state.done || !open;
  return { state: { ...state, candidates, inFlight, queries, rounds, done }, query };
}
