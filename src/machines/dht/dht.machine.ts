/**
 * The DHT node (BEP 5) as one statechart: one per engine, shared by all torrents.
 *
 * States: `starting` (the socket actor binds the UDP port and resolves the bootstrap names) →
 * `active.bootstrapping` (`contacting`: find_node for our id to each bootstrap node; `selfLookup`: a
 * lookup of our own id from what they named) → `active.ready` (lookups for the torrents, every 15–30 min
 * each, announce_peer after each; bucket refresh) → `stopping` (the table serialised and saved) →
 * `stopped`; `failed` when the socket cannot be had.
 *
 * Pure: the UDP socket (`socket`), the saving of the table (`saveTable`) are actors provided from src/io;
 * time is the `ticker` child's `dht.tick` (the actor system's clock); every outstanding query is a
 * `dhtQuery` child that times out, every lookup a `dhtLookup` child. The routing table, the token
 * issuer, the peer store and the rate limiter are services this machine alone owns (`context.svc`),
 * touched only in named actions (`answer`, `applyResponse`, `nodeFailed`, `maintain`, `plan`,
 * `serializeTable`), which send what they learn back as events (`dht.out`, `dht.plan`, `dht.serialized`).
 * Answers to our queries are matched by transaction id **and** address; anything else is dropped.
 *
 * Events out (emitted): `dht.started`, `dht.ready`, `dht.peers` (peers found for an info hash, as a
 * lookup finds them), `dht.lookupDone`, `dht.error`. See docs/dht.md.
 */
import { assign, enqueueActions, fromCallback, fromPromise, setup, stopChild, type ActorRefFrom } from 'xstate';
import type {
  DhtEndpoint,
  DhtSaveInput,
  DhtSocketCommand,
  DhtSocketInput,
  DhtSocketReport,
} from '../../protocol/dht-socket-types.js';
import {
  type CompactNode,
  KrpcErrorCode,
  type KrpcMessage,
  type KrpcMethod,
  type KrpcQuery,
  readResponse,
} from '../../protocol/krpc.js';
import type { PeerAddress } from '../../protocol/peer-address.js';
import { nextRandom, randomFrom } from '../random.js';
import { answerQuery } from './answer.js';
import { dhtLookupMachine, type DhtLookupEvent, type DhtLookupReport } from './dht-lookup.machine.js';
import { dhtQueryMachine, type DhtQueryReport } from './dht-query.machine.js';
import { dhtTickerMachine } from './dht-ticker.machine.js';
import { castVote, emptyVotes, idForVotes, type IpVotes } from './external-ip.js';
import type { LookupReply, LookupResult } from './lookup.js';
import { type NodeContact, type NodeId, isNodeId, randomId } from './node-id.js';
import { PeerStore, type PeerStoreOptions } from './peer-store.js';
import { RateLimiter, type RateLimiterOptions } from './rate-limit.js';
import {
  K,
  RoutingTable,
  deserializeRoutingTable,
  type RoutingTableOptions,
  type RoutingTableStats,
} from './routing-table.js';
import { TokenIssuer } from './tokens.js';

/** The node's timers and bounds (all times in ms of the actor system's clock). */
export interface DhtSettings {
  /** The node's clock step (`dht.tick`). */
  tickMs: number;
  /** A query not answered after this is slow: its lookup asks another node. */
  querySlowMs: number;
  /** A query not answered after this has failed. */
  queryTimeoutMs: number;
  /** Bootstrapping ends after this even if the lookup of our own id has not. */
  bootstrapTimeoutMs: number;
  /** A torrent's next lookup comes between these after the last one started (jittered). */
  relookupMinMs: number;
  relookupMaxMs: number;
  /**
   * After a lookup that found no peers the next comes sooner: this long, doubling with each empty one,
   * up to `relookupMinMs` (a swarm's first announce may come just after our first lookup).
   */
  retryEmptyMs: number;
  /** With an empty table, the bootstrap nodes are asked again this often. */
  rebootstrapMs: number;
  /** Buckets due for a refresh (15 min unchanged) are looked for this often. */
  refreshCheckMs: number;
  /** Announces older than the store's TTL are dropped this often. */
  expireEveryMs: number;
  /** Queries outstanding at most (answers to others' queries not counted). */
  maxPending: number;
  /** Lookups running at most; refresh lookups take at most half of them. */
  maxLookups: number;
  /** Saving the table at stop is given this long. */
  saveTimeoutMs: number;
}

export const defaultDhtSettings: Readonly<DhtSettings> = Object.freeze({
  tickMs: 1_000,
  querySlowMs: 1_500,
  queryTimeoutMs: 5_000,
  bootstrapTimeoutMs: 20_000,
  relookupMinMs: 15 * 60_000,
  relookupMaxMs: 30 * 60_000,
  retryEmptyMs: 10_000,
  rebootstrapMs: 60_000,
  refreshCheckMs: 60_000,
  expireEveryMs: 5 * 60_000,
  maxPending: 256,
  maxLookups: 16,
  saveTimeoutMs: 5_000,
});

export interface DhtInput {
  /** Seed of the node's randomness (transaction ids, jitter, refresh targets, a new node id, samples). */
  seed: number;
  /** SHA-1 (node:crypto in src/app), for tokens. */
  hash: (bytes: Uint8Array) => Uint8Array;
  /** A fresh unpredictable secret for tokens (called at start and every 5 minutes). */
  secret: () => Uint8Array;
  /** The table saved at the last stop (`RoutingTable.serialize`); an invalid one is ignored. */
  saved?: string;
  /** Our node id; default the saved table's, else a random one. */
  ownId?: NodeId;
  /** Bootstrap nodes `HOST:PORT`, given to the socket actor (which resolves them). */
  bootstrap?: string[];
  /** Address and UDP port the socket binds. */
  bind?: { host?: string; port: number };
  settings?: Partial<DhtSettings>;
  table?: RoutingTableOptions;
  store?: Omit<PeerStoreOptions, 'seed'>;
  limiter?: RateLimiterOptions;
  /** Our client version `v` in answers (4 bytes: two letters and a version). */
  version?: Uint8Array;
}

/** The services this machine alone owns; only its named actions touch them. */
interface DhtServices {
  table: RoutingTable;
  tokens: TokenIssuer;
  store: PeerStore;
  limiter: RateLimiter;
}

type QueryPurpose = 'router' | 'ping' | 'lookup' | 'announce';
type LookupPurpose = 'self' | 'refresh' | 'torrent';

/** One query of ours awaiting its answer, by transaction id (hex). */
interface Pending {
  to: DhtEndpoint;
  method: KrpcMethod;
  purpose: QueryPurpose;
  /** The id we expect to answer (unknown for a bootstrap node). */
  id: NodeId | undefined;
  lookup: string | undefined;
  ref: ActorRefFrom<typeof dhtQueryMachine>;
}

interface LookupEntry {
  kind: 'find_node' | 'get_peers';
  purpose: LookupPurpose;
  target: NodeId;
  /** For a torrent's lookup: its info hash (hex). */
  infoHash: string | undefined;
  ref: ActorRefFrom<typeof dhtLookupMachine>;
}

interface TorrentEntry {
  infoHash: NodeId;
  /** The TCP port to announce; undefined: look up only. */
  port: number | undefined;
  /** The node's clock when its next lookup is due. */
  nextAt: number;
  /** A lookup of it is running. */
  running: boolean;
  /** Lookups in a row that found no peers. */
  empties: number;
}

/** What the inspector and the CLI show of the node. */
export interface DhtStats extends RoutingTableStats {
  /** Queries of ours outstanding. */
  inFlight: number;
  lookups: number;
  /** Peers others announced to us (the peer store). */
  storedPeers: number;
  sent: number;
  received: number;
  answered: number;
  /** Queries not answered because of the rate limit. */
  limited: number;
  /** Answers matching no query of ours (unknown transaction id, or from another address). */
  dropped: number;
}

/** A lookup the `plan` named action chose to start, with its seeds from the table. */
interface PlannedLookup {
  kind: 'find_node' | 'get_peers';
  purpose: LookupPurpose;
  target: NodeId;
  seeds: NodeContact[];
  infoHash?: string;
}

export interface DhtContext {
  svc: DhtServices;
  ownId: NodeId;
  settings: DhtSettings;
  /** Node time: ms counted by ticks. */
  clock: number;
  rng: number;
  pending: Record<string, Pending>;
  lookups: Record<string, LookupEntry>;
  /** Lookups started so far (names the next one). */
  lookupCount: number;
  torrents: Record<string, TorrentEntry>;
  /** The bootstrap nodes, resolved. */
  routers: DhtEndpoint[];
  /** Nodes the bootstrap nodes named (seeds of the lookup of our own id). */
  bootNodes: NodeContact[];
  /** When maintenance last did each of its jobs (node time). */
  last: { refresh: number; expire: number; routers: number };
  stats: DhtStats;
  version: Uint8Array | undefined;
  /** The serialised table, while saving. */
  saveText: string | undefined;
  /** What the socket actor is started with. */
  socket: DhtSocketInput;
  /** BEP 42: where the nodes that answered us see us (external-ip.ts). */
  ipVotes: IpVotes;
}

export type DhtEvent =
  /** Find peers for this info hash now and every 15–30 min; announce `port` after each lookup when given. */
  | { type: 'dht.add'; infoHash: Uint8Array; port?: number }
  | { type: 'dht.remove'; infoHash: Uint8Array }
  /** A node someone told us of (BEP 5 `port` message): pinged, enters the table if it answers. */
  | { type: 'dht.addNode'; host: string; port: number }
  /** Save the table and stop. */
  | { type: 'dht.stop' }
  | { type: 'dht.tick' }
  /** Internal: what the named actions decided to send (answers, pings). */
  | { type: 'dht.out'; replies: { to: DhtEndpoint; msg: KrpcMessage }[]; ping: NodeContact[]; limited: boolean }
  /** Internal: lookups to start (seeds from the table), the table's counters, whether to ask the routers. */
  | { type: 'dht.plan'; lookups: PlannedLookup[]; table: RoutingTableStats; storedPeers: number; routers: boolean }
  | { type: 'dht.serialized'; text: string }
  | DhtSocketReport
  | DhtLookupReport
  | DhtQueryReport;

export type DhtReport =
  | { type: 'dht.started'; port: number; routers: DhtEndpoint[]; unresolved: string[]; nodes: number }
  | { type: 'dht.ready'; nodes: number }
  | { type: 'dht.peers'; infoHash: string; peers: PeerAddress[] }
  | {
      type: 'dht.lookupDone';
      purpose: LookupPurpose;
      target: string;
      peers: number;
      queries: number;
      rounds: number;
      /** announce_peer queries sent after it. */
      announced: number;
      /** Ids (hex) of the closest nodes that answered, closest first (at most 8). */
      closest: string[];
    }
  /** BEP 42: enough nodes see us at `ip` (public) that our id changed to one bound to it. */
  | { type: 'dht.newId'; id: string; ip: string }
  | { type: 'dht.error'; message: string };

const socketNotProvided = fromCallback<DhtSocketCommand, DhtSocketInput>(() => {
  throw new Error('dht machine: no socket actor provided (provide dhtSocketActor from src/io)');
});
const saveNotProvided = fromPromise<void, DhtSaveInput>(() =>
  Promise.reject(new Error('dht machine: no saveTable actor provided')),
);

/** Lowercase hex of any bytes (transaction ids, info hashes). */
function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- XState's enqueue and spawn, typed by the machine being defined */
/** What `enqueueActions` hands its callback, as far as the helpers below use it. */
interface Enqueue {
  sendTo(to: any, event: DhtSocketCommand | DhtLookupEvent): void;
  assign(fn: (args: { context: DhtContext; spawn: any; self: any }) => Partial<DhtContext>): void;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Enqueues one of this machine's named actions with its params (from inside the machine's own `setup`). */
function enqueueNamed<P>(enqueue: unknown, type: string, params: P): void {
  (enqueue as (action: { type: string; params: P }) => void)({ type, params });
}

/** The `plan` of a lookup of our own id alone. */
const selfLookupPlan = (now: number) => ({
  now,
  self: true,
  torrents: [],
  refresh: false,
  expire: false,
  routers: false,
  refreshSlots: 0,
});

function emptyStats(table: RoutingTableStats): DhtStats {
  return {
    ...table,
    inFlight: 0,
    lookups: 0,
    storedPeers: 0,
    sent: 0,
    received: 0,
    answered: 0,
    limited: 0,
    dropped: 0,
  };
}

/** A response or error whose transaction id is ours and that comes from the address we asked. */
function pendingFor(context: DhtContext, event: DhtEvent): Pending | undefined {
  if (event.type !== 'socket.message' || event.msg.y === 'q') return undefined;
  const p = context.pending[hex(event.msg.t)];
  return p && p.to.host === event.from.host && p.to.port === event.from.port ? p : undefined;
}

/** A query to send: to whom, what, and what it is for. */
interface QuerySpec {
  to: DhtEndpoint;
  id: NodeId | undefined;
  msg: Omit<KrpcQuery, 't' | 'y' | 'id'> & { q: KrpcMethod };
  purpose: QueryPurpose;
  lookup?: string;
}

/**
 * Sends `specs` (as many as `maxPending` allows): a fresh transaction id each, a `dhtQuery` child
 * each, recorded in `pending`. Returns the specs that did not fit. One call per transition (the
 * transaction ids come from the context's generator).
 */
function sendQueries(context: DhtContext, enqueue: Enqueue, specs: QuerySpec[]): QuerySpec[] {
  let rng = context.rng;
  const room = Math.max(0, context.settings.maxPending - Object.keys(context.pending).length);
  const taken = specs.slice(0, room);
  const added: { tid: string; spec: QuerySpec }[] = [];
  const used = new Set(Object.keys(context.pending));
  for (const spec of taken) {
    let t: Uint8Array;
    let tid: string;
    do {
      let x: number;
      [x, rng] = nextRandom(rng);
      const n = Math.floor(x * 0x100000000);
      t = Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
      tid = hex(t);
    } while (used.has(tid));
    used.add(tid);
    added.push({ tid, spec });
    const msg = { ...spec.msg, y: 'q', t, id: context.ownId } as KrpcQuery;
    enqueue.sendTo('socket', { type: 'socket.send', to: spec.to, msg } satisfies DhtSocketCommand);
  }
  if (added.length === 0) return specs.slice(room);
  enqueue.assign(({ context: cur, spawn, self }) => {
    const pending = { ...cur.pending };
    for (const { tid, spec } of added)
      pending[tid] = {
        to: spec.to,
        method: spec.msg.q,
        purpose: spec.purpose,
        id: spec.id,
        lookup: spec.lookup,
        ref: spawn('query', {
          id: `query:${tid}`,
          input: { tid, slowMs: cur.settings.querySlowMs, timeoutMs: cur.settings.queryTimeoutMs, report: self },
        }),
      };
    return {
      rng,
      pending,
      stats: { ...cur.stats, sent: cur.stats.sent + added.length, inFlight: Object.keys(pending).length },
    };
  });
  return specs.slice(room);
}

const findNodeOf = (target: NodeId) => ({ q: 'find_node' as const, target });
const routerQueries = (c: DhtContext): QuerySpec[] =>
  c.routers.map((to) => ({ to, id: undefined, msg: findNodeOf(c.ownId), purpose: 'router' as const }));

/** What a response says, for the lookup that asked (undefined: it does not answer that query). */
function replyOf(p: Pending, msg: Extract<KrpcMessage, { y: 'r' }>): LookupReply | undefined {
  try {
    if (p.method === 'get_peers') {
      const r = readResponse('get_peers', msg);
      const nodes = [...r.nodes, ...r.nodes6].map(contactOfCompact);
      return { id: r.id, nodes, values: r.values, token: r.token };
    }
    if (p.method === 'find_node') {
      const r = readResponse('find_node', msg);
      return { id: r.id, nodes: [...r.nodes, ...r.nodes6].map(contactOfCompact) };
    }
    return { id: msg.id };
  } catch {
    return undefined;
  }
}

function sameId(a: NodeId, b: NodeId): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function contactOfCompact(n: CompactNode): NodeContact {
  return { id: n.id, host: n.host, port: n.port };
}

function jitter(c: DhtContext, rng: number): [number, number] {
  const [x, next] = nextRandom(rng);
  const { relookupMinMs: lo, relookupMaxMs: hi } = c.settings;
  return [lo + Math.floor(x * Math.max(0, hi - lo)), next];
}

export const dhtMachine = setup({
  types: {
    input: {} as DhtInput,
    context: {} as DhtContext,
    events: {} as DhtEvent,
    emitted: {} as DhtReport,
  },
  actors: {
    socket: socketNotProvided,
    saveTable: saveNotProvided,
    ticker: dhtTickerMachine,
    query: dhtQueryMachine,
    lookup: dhtLookupMachine,
  },
  delays: {
    bootstrapTimeout: ({ context }) => context.settings.bootstrapTimeoutMs,
    saveTimeout: ({ context }) => context.settings.saveTimeoutMs,
  },
  guards: {
    isQuery: ({ event }) => event.type === 'socket.message' && event.msg.y === 'q',
    matchesPending: ({ context, event }) => pendingFor(context, event) !== undefined,
    isRouterAnswer: ({ context, event }) => pendingFor(context, event)?.purpose === 'router',
    noRouterPending: ({ context }) => !Object.values(context.pending).some((p) => p.purpose === 'router'),
    isSelfLookup: ({ context, event }) =>
      event.type === 'lookup.done' && context.lookups[event.lookup]?.purpose === 'self',
  },
  actions: {
    advanceClock: assign(({ context }) => ({ clock: context.clock + context.settings.tickMs })),
    emitReport: enqueueActions(({ enqueue }, report: DhtReport) => {
      enqueue.emit(report);
    }),
    takeRouters: assign(({ event }) => {
      if (event.type !== 'socket.ready') return {};
      return { routers: event.routers.slice(0, 32) };
    }),

    // ---- named actions: the only code that touches the services ----------------------------------

    /** A query from another node: rate limit, answer (answer.ts), offer the querier to the table. */
    answer: ({ context, self }, p: { msg: KrpcQuery; from: DhtEndpoint; size: number; now: number }) => {
      const { table, store, tokens, limiter } = context.svc;
      if (!limiter.allow(p.from.host, p.now)) {
        self.send({ type: 'dht.out', replies: [], ping: [], limited: true });
        return;
      }
      const { reply, remember } = answerQuery(p.msg, p.from, {
        ownId: context.ownId,
        table,
        store,
        tokens,
        now: p.now,
        queryBytes: p.size,
        ...(context.version && { version: context.version }),
      });
      const ping = remember ? table.onQuery(remember, p.now).ping : [];
      self.send({ type: 'dht.out', replies: reply ? [{ to: p.from, msg: reply }] : [], ping, limited: false });
    },
    /** A malformed query whose transaction id could be read: 203 (within the rate limit). */
    answerMalformed: ({ context, self }, p: { t: Uint8Array; from: DhtEndpoint; now: number }) => {
      if (!context.svc.limiter.allow(p.from.host, p.now)) {
        self.send({ type: 'dht.out', replies: [], ping: [], limited: true });
        return;
      }
      const msg: KrpcMessage = { y: 'e', t: p.t, code: KrpcErrorCode.protocol, message: 'invalid query' };
      if (context.version) msg.v = context.version;
      self.send({ type: 'dht.out', replies: [{ to: p.from, msg }], ping: [], limited: false });
    },
    /** An answer to one of our queries (matched): the node enters or refreshes its place in the table. */
    applyResponse: (
      { context, self },
      p: { contact: NodeContact | undefined; expected: NodeId | undefined; now: number },
    ) => {
      const { table } = context.svc;
      if (p.contact) {
        const { ping } = table.onResponse(p.contact, p.now);
        if (ping.length > 0) self.send({ type: 'dht.out', replies: [], ping, limited: false });
      } else if (p.expected) table.onTimeout(p.expected, p.now);
    },
    /** BEP 42: our id changed; the table is rebuilt around it (its nodes kept, questionable). */
    renewId: ({ context }, p: { id: NodeId; now: number }) => {
      context.svc.table = context.svc.table.withOwnId(p.id, p.now);
    },
    /** A query of ours timed out: the node fails once (two in a row make it bad). */
    nodeFailed: ({ context }, p: { id: NodeId | undefined; now: number }) => {
      if (p.id) context.svc.table.onTimeout(p.id, p.now);
    },
    /**
     * Periodic upkeep and lookups to start: the due torrents' lookups, bucket refreshes, the lookup of
     * our own id; expiry of stored announces; whether to ask the bootstrap nodes again (empty table).
     */
    plan: (
      { context, self },
      p: {
        now: number;
        self: boolean;
        torrents: { infoHash: NodeId }[];
        refresh: boolean;
        expire: boolean;
        routers: boolean;
        refreshSlots: number;
      },
    ) => {
      const { table, store } = context.svc;
      const seeds = (target: NodeId, extra: NodeContact[] = []) => [
        ...table.closest(target, K, p.now).map((n) => ({ id: n.id, host: n.host, port: n.port })),
        ...extra,
      ];
      const lookups: PlannedLookup[] = [];
      if (p.self)
        lookups.push({
          kind: 'find_node',
          purpose: 'self',
          target: context.ownId,
          seeds: seeds(context.ownId, context.bootNodes),
        });
      for (const t of p.torrents)
        lookups.push({
          kind: 'get_peers',
          purpose: 'torrent',
          target: t.infoHash,
          seeds: seeds(t.infoHash),
          infoHash: hex(t.infoHash),
        });
      if (p.refresh && table.size > 0)
        for (const r of table.refreshDue(p.now, randomFrom(context.rng ^ p.now)).slice(0, p.refreshSlots))
          lookups.push({ kind: 'find_node', purpose: 'refresh', target: r.target, seeds: seeds(r.target) });
      if (p.expire) store.expire(p.now);
      self.send({
        type: 'dht.plan',
        lookups,
        table: table.stats(p.now),
        storedPeers: store.peerCount,
        routers: p.routers && table.size === 0,
      });
    },
    serializeTable: ({ context, self }) => {
      self.send({ type: 'dht.serialized', text: context.svc.table.serialize() });
    },

    // ---- transitions' actions -------------------------------------------------------------------

    /** Sends what the named actions decided: answers, and pings (each a query of ours). */
    deliver: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'dht.out') return;
      for (const r of event.replies) enqueue.sendTo('socket', { type: 'socket.send', to: r.to, msg: r.msg });
      enqueue.assign(({ context: cur }) => ({
        stats: {
          ...cur.stats,
          answered: cur.stats.answered + event.replies.length,
          limited: cur.stats.limited + (event.limited ? 1 : 0),
        },
      }));
      // One ping at a time per address: a querier that keeps asking is not pinged once per query.
      const busy = new Set(Object.values(context.pending).map((p) => `${p.to.host}|${p.to.port}`));
      const ping = event.ping.filter((n) => {
        const key = `${n.host}|${n.port}`;
        if (busy.has(key)) return false;
        busy.add(key);
        return true;
      });
      if (ping.length > 0)
        sendQueries(
          context,
          enqueue,
          ping.map((n) => ({
            to: { host: n.host, port: n.port },
            id: n.id,
            msg: { q: 'ping' as const },
            purpose: 'ping' as const,
          })),
        );
    }),
    /** An answer to a query of ours (matched by transaction id and address). */
    takeResponse: enqueueActions(({ context, event, enqueue }) => {
      const p = pendingFor(context, event);
      if (!p || event.type !== 'socket.message') return;
      const { msg, from } = event;
      const tid = hex(msg.t);
      enqueue(stopChild(p.ref));
      enqueue.assign(({ context: cur }) => {
        const pending = { ...cur.pending };
        delete pending[tid];
        return {
          pending,
          stats: { ...cur.stats, received: cur.stats.received + 1, inFlight: Object.keys(pending).length },
        };
      });
      const reply = msg.y === 'r' ? replyOf(p, msg) : undefined;
      // A node that answers under another id than the one we asked lies (or restarted): it fails, and
      // the id it gives is not taken.
      const honest = reply !== undefined && (p.id === undefined || sameId(p.id, reply.id));
      if (msg.y === 'r')
        enqueueNamed(enqueue, 'applyResponse', {
          contact: honest ? { id: msg.id, host: from.host, port: from.port } : undefined,
          expected: p.id,
          now: context.clock,
        });
      const l = p.lookup !== undefined ? context.lookups[p.lookup] : undefined;
      if (l)
        enqueue.sendTo(
          l.ref,
          (reply ? { type: 'lookup.response', from, reply } : { type: 'lookup.failed', from }) satisfies DhtLookupEvent,
        );
      // BEP 42: the address this node sees us at is its vote; enough agreeing votes for a public address
      // our id is not bound to give us a new id (and a lookup of it, to fill the buckets near it).
      if (honest && msg.y === 'r' && msg.ip !== undefined) {
        const ipVotes = castVote(context.ipVotes, from.host, msg.ip.host);
        if (ipVotes !== context.ipVotes) {
          let rng = context.rng;
          const renewed = idForVotes(context.ownId, ipVotes, () => {
            let x: number;
            [x, rng] = nextRandom(rng);
            return x;
          });
          enqueue.assign({ ipVotes, ...(renewed && { ownId: renewed.id, rng }) });
          if (renewed) {
            enqueueNamed(enqueue, 'renewId', { id: renewed.id, now: context.clock });
            enqueue.emit({ type: 'dht.newId', id: hex(renewed.id), ip: renewed.ip } satisfies DhtReport);
            enqueueNamed(enqueue, 'plan', selfLookupPlan(context.clock));
          }
        }
      }
    }),
    /** Nodes a bootstrap node named: the seeds of the lookup of our own id. */
    keepBootNodes: assign(({ context, event }) => {
      if (event.type !== 'socket.message' || event.msg.y !== 'r') return {};
      const nodes = [...(event.msg.nodes ?? []), ...(event.msg.nodes6 ?? [])].slice(0, 16).map(contactOfCompact);
      return { bootNodes: [...context.bootNodes, ...nodes].slice(0, 32) };
    }),
    countDropped: assign(({ context }) => ({ stats: { ...context.stats, dropped: context.stats.dropped + 1 } })),
    contactRouters: enqueueActions(({ context, enqueue }) => {
      sendQueries(context, enqueue, routerQueries(context));
      enqueue.assign({ last: { ...context.last, routers: context.clock } });
    }),
    querySlow: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'query.slow') return;
      const p = context.pending[event.tid];
      const l = p?.lookup !== undefined ? context.lookups[p.lookup] : undefined;
      if (p && l) enqueue.sendTo(l.ref, { type: 'lookup.slow', from: p.to } satisfies DhtLookupEvent);
    }),
    queryTimedOut: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'query.timeout') return;
      const p = context.pending[event.tid];
      if (!p) return;
      enqueue.assign(({ context: cur }) => {
        const pending = { ...cur.pending };
        delete pending[event.tid];
        return { pending, stats: { ...cur.stats, inFlight: Object.keys(pending).length } };
      });
      enqueueNamed(enqueue, 'nodeFailed', { id: p.id, now: context.clock });
      const l = p.lookup !== undefined ? context.lookups[p.lookup] : undefined;
      if (l) enqueue.sendTo(l.ref, { type: 'lookup.failed', from: p.to } satisfies DhtLookupEvent);
    }),
    /** A lookup asks for queries: get_peers or find_node to each node it names. */
    queryForLookup: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'lookup.query') return;
      const l = context.lookups[event.lookup];
      if (!l) return;
      const msg =
        l.kind === 'get_peers'
          ? { q: 'get_peers' as const, infoHash: l.target }
          : { q: 'find_node' as const, target: l.target };
      const left = sendQueries(
        context,
        enqueue,
        event.nodes.map((n) => ({
          to: { host: n.host, port: n.port },
          id: n.id,
          msg,
          purpose: 'lookup' as const,
          lookup: event.lookup,
        })),
      );
      // No room for them: they fail at once, so the lookup does not wait for them.
      for (const s of left) enqueue.sendTo(l.ref, { type: 'lookup.failed', from: s.to } satisfies DhtLookupEvent);
    }),
    reportPeers: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'lookup.values') return;
      const l = context.lookups[event.lookup];
      if (l?.infoHash !== undefined && context.torrents[l.infoHash])
        enqueue.emit({ type: 'dht.peers', infoHash: l.infoHash, peers: event.values });
    }),
    /** A lookup ended: announce_peer to the closest nodes that gave a token (a torrent's), report it. */
    finishLookup: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'lookup.done') return;
      const l = context.lookups[event.lookup];
      if (!l) return;
      const result: LookupResult = event.result;
      const torrent = l.infoHash !== undefined ? context.torrents[l.infoHash] : undefined;
      const announces: QuerySpec[] =
        torrent?.port !== undefined
          ? result.closest
              .filter((c) => c.token !== undefined)
              .map((c) => ({
                to: { host: c.contact.host, port: c.contact.port },
                id: c.contact.id,
                msg: {
                  q: 'announce_peer' as const,
                  infoHash: l.target,
                  port: torrent.port,
                  impliedPort: true,
                  token: c.token!,
                },
                purpose: 'announce' as const,
              }))
          : [];
      enqueue(stopChild(l.ref));
      enqueue.assign(({ context: cur }) => {
        const lookups = { ...cur.lookups };
        delete lookups[event.lookup];
        const t = l.infoHash !== undefined ? cur.torrents[l.infoHash] : undefined;
        const torrents = { ...cur.torrents };
        if (t) {
          const empties = result.values.length === 0 ? t.empties + 1 : 0;
          const retry = Math.min(cur.settings.relookupMinMs, cur.settings.retryEmptyMs * 2 ** Math.min(20, t.empties));
          torrents[l.infoHash!] = {
            ...t,
            running: false,
            empties,
            nextAt: empties > 0 ? Math.min(t.nextAt, cur.clock + retry) : t.nextAt,
          };
        }
        return { lookups, torrents, stats: { ...cur.stats, lookups: Object.keys(lookups).length } };
      });
      if (announces.length > 0) sendQueries(context, enqueue, announces);
      enqueue.emit({
        type: 'dht.lookupDone',
        purpose: l.purpose,
        target: hex(l.target),
        peers: result.values.length,
        queries: result.queries,
        rounds: result.rounds,
        announced: announces.length,
        closest: result.closest.map((c) => hex(c.contact.id)),
      });
    }),
    /** Starts the lookups `plan` chose (within `maxLookups`) and asks the routers again if it said so. */
    startPlanned: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'dht.plan') return;
      const room = Math.max(0, context.settings.maxLookups - Object.keys(context.lookups).length);
      const chosen = event.lookups
        .filter((l) => l.purpose !== 'torrent' || context.torrents[l.infoHash!])
        .slice(0, room);
      enqueue.assign(({ context: cur, spawn, self }) => {
        const lookups = { ...cur.lookups };
        const torrents = { ...cur.torrents };
        let { rng, lookupCount } = cur;
        for (const l of chosen) {
          const id = `lookup:${++lookupCount}`;
          lookups[id] = {
            kind: l.kind,
            purpose: l.purpose,
            target: l.target,
            infoHash: l.infoHash,
            ref: spawn('lookup', {
              id,
              input: { id, target: l.target, seeds: l.seeds, options: { ownId: cur.ownId }, report: self },
            }),
          };
          const t = l.infoHash !== undefined ? torrents[l.infoHash] : undefined;
          if (t) {
            let wait: number;
            [wait, rng] = jitter(cur, rng);
            torrents[l.infoHash!] = { ...t, running: true, nextAt: cur.clock + wait };
          }
        }
        return {
          lookups,
          torrents,
          rng,
          lookupCount,
          stats: {
            ...cur.stats,
            ...event.table,
            storedPeers: event.storedPeers,
            lookups: Object.keys(lookups).length,
          },
        };
      });
      if (event.routers) {
        sendQueries(context, enqueue, routerQueries(context));
      }
    }),
    /** Periodic upkeep (ready): lookups due, refresh, expiry, routers. */
    maintain: enqueueActions(({ context, enqueue }) => {
      const now = context.clock;
      const running = Object.values(context.lookups);
      const refreshing = running.filter((l) => l.purpose === 'refresh').length;
      const torrents = Object.values(context.torrents)
        .filter((t) => !t.running && t.nextAt <= now)
        .map((t) => ({ infoHash: t.infoHash }));
      const refresh = now - context.last.refresh >= context.settings.refreshCheckMs;
      const expire = now - context.last.expire >= context.settings.expireEveryMs;
      const routers = context.routers.length > 0 && now - context.last.routers >= context.settings.rebootstrapMs;
      enqueue.assign({
        last: {
          refresh: refresh ? now : context.last.refresh,
          expire: expire ? now : context.last.expire,
          routers: routers ? now : context.last.routers,
        },
      });
      enqueueNamed(enqueue, 'plan', {
        now,
        self: false,
        torrents,
        refresh,
        expire,
        routers,
        refreshSlots: Math.max(0, Math.floor(context.settings.maxLookups / 2) - refreshing),
      });
    }),
    /** Upkeep while bootstrapping: the counters only. */
    countTable: enqueueActions(({ context, enqueue }) => {
      enqueueNamed(enqueue, 'plan', {
        now: context.clock,
        self: false,
        torrents: [],
        refresh: false,
        expire: false,
        routers: false,
        refreshSlots: 0,
      });
    }),
    planSelfLookup: enqueueActions(({ context, enqueue }) => {
      enqueueNamed(enqueue, 'plan', selfLookupPlan(context.clock));
    }),
    addTorrent: assign(({ context, event }) => {
      if (event.type !== 'dht.add' || !isNodeId(event.infoHash)) return {};
      const key = hex(event.infoHash);
      const known = context.torrents[key];
      const port =
        event.port !== undefined && Number.isInteger(event.port) && event.port >= 1 && event.port <= 0xffff
          ? event.port
          : undefined;
      return {
        torrents: {
          ...context.torrents,
          [key]: {
            infoHash: Uint8Array.from(event.infoHash),
            port,
            nextAt: context.clock,
            running: known?.running ?? false,
            empties: 0,
          },
        },
      };
    }),
    removeTorrent: assign(({ context, event }) => {
      if (event.type !== 'dht.remove') return {};
      const torrents = { ...context.torrents };
      delete torrents[hex(event.infoHash)];
      return { torrents };
    }),
    pingNode: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'dht.addNode') return;
      if (!Number.isInteger(event.port) || event.port < 1 || event.port > 0xffff) return;
      // Its id is unknown: a find_node for our id (as to a bootstrap node) makes it say it.
      sendQueries(context, enqueue, [
        { to: { host: event.host, port: event.port }, id: undefined, msg: findNodeOf(context.ownId), purpose: 'ping' },
      ]);
    }),
  },
}).createMachine({
  id: 'dht',
  context: ({ input }) => {
    const settings = { ...defaultDhtSettings, ...input.settings };
    const rngSeed = input.seed | 0;
    let table: RoutingTable | undefined;
    if (input.saved !== undefined) {
      try {
        table = deserializeRoutingTable(input.saved, {
          ...input.table,
          now: 0,
          ...(input.ownId && { ownId: input.ownId }),
        });
      } catch {
        table = undefined; // a bad file: start afresh
      }
    }
    table ??= new RoutingTable(input.ownId ?? randomId(randomFrom(rngSeed ^ 0x5eed)), input.table, 0);
    const svc: DhtServices = {
      table,
      tokens: new TokenIssuer({ hash: input.hash, secret: input.secret }, 0),
      store: new PeerStore({ ...input.store, seed: rngSeed }),
      limiter: new RateLimiter(input.limiter, 0),
    };
    return {
      svc,
      ownId: table.ownId,
      settings,
      clock: 0,
      rng: rngSeed,
      pending: {},
      lookups: {},
      lookupCount: 0,
      torrents: {},
      routers: [],
      bootNodes: [],
      last: { refresh: 0, expire: 0, routers: 0 },
      stats: emptyStats(table.stats(0)),
      version: input.version,
      saveText: undefined,
      ipVotes: emptyVotes(),
      socket: {
        port: input.bind?.port ?? 6881,
        ...(input.bind?.host !== undefined && { host: input.bind.host }),
        bootstrap: input.bootstrap ?? [],
      },
    };
  },
  invoke: {
    id: 'socket',
    src: 'socket',
    input: ({ context }) => context.socket,
  },
  initial: 'starting',
  states: {
    /** The socket binds and resolves the bootstrap names. */
    starting: {
      on: {
        'socket.ready': {
          target: 'active',
          actions: [
            'takeRouters',
            {
              type: 'emitReport',
              params: ({ context, event }) => ({
                type: 'dht.started' as const,
                port: event.port,
                routers: event.routers,
                unresolved: event.unresolved,
                nodes: context.stats.nodes,
              }),
            },
          ],
        },
        'socket.failed': {
          target: 'failed',
          actions: {
            type: 'emitReport',
            params: ({ event }) => ({ type: 'dht.error' as const, message: event.message }),
          },
        },
        'dht.add': { actions: 'addTorrent' },
        'dht.remove': { actions: 'removeTorrent' },
        'dht.stop': 'stopping',
      },
    },
    active: {
      invoke: {
        id: 'ticker',
        src: 'ticker',
        input: ({ context, self }) => ({ everyMs: context.settings.tickMs, report: self }),
      },
      on: {
        'dht.tick': { actions: ['advanceClock', 'countTable'] },
        'socket.message': [
          {
            guard: 'isQuery',
            actions: {
              type: 'answer',
              params: ({ context, event }) => ({
                msg: event.msg as KrpcQuery,
                from: event.from,
                size: event.size,
                now: context.clock,
              }),
            },
          },
          { guard: 'matchesPending', actions: 'takeResponse' },
          { actions: 'countDropped' },
        ],
        'socket.malformed': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (event.kind === 'q' && event.t !== undefined)
              enqueueNamed(enqueue, 'answerMalformed', { t: event.t, from: event.from, now: context.clock });
          }),
        },
        'dht.out': { actions: 'deliver' },
        'dht.plan': { actions: 'startPlanned' },
        'query.slow': { actions: 'querySlow' },
        'query.timeout': { actions: 'queryTimedOut' },
        'lookup.query': { actions: 'queryForLookup' },
        'lookup.values': { actions: 'reportPeers' },
        'lookup.done': { actions: 'finishLookup' },
        'dht.add': { actions: 'addTorrent' },
        'dht.remove': { actions: 'removeTorrent' },
        'dht.addNode': { actions: 'pingNode' },
        'dht.stop': 'stopping',
      },
      initial: 'bootstrapping',
      states: {
        bootstrapping: {
          after: { bootstrapTimeout: 'ready' },
          initial: 'contacting',
          states: {
            /** find_node for our own id to each bootstrap node; the first answer moves on. */
            contacting: {
              entry: 'contactRouters',
              always: { guard: 'noRouterPending', target: 'selfLookup' },
              on: {
                'socket.message': {
                  guard: 'isRouterAnswer',
                  target: 'selfLookup',
                  actions: ['takeResponse', 'keepBootNodes'],
                },
              },
            },
            /** A lookup of our own id fills the buckets near us (BEP 5). */
            selfLookup: {
              entry: 'planSelfLookup',
              on: {
                'lookup.done': { guard: 'isSelfLookup', target: '#dht.active.ready', actions: 'finishLookup' },
              },
            },
          },
        },
        /** Serving, and looking up the torrents' peers. */
        ready: {
          // The torrents' first lookups start at once, not at the next tick.
          entry: [
            {
              type: 'emitReport',
              params: ({ context }) => ({ type: 'dht.ready' as const, nodes: context.stats.nodes }),
            },
            'maintain',
          ],
          on: {
            'dht.tick': { actions: ['advanceClock', 'maintain'] },
            // A torrent added while ready is looked up at once.
            'dht.add': { actions: ['addTorrent', 'maintain'] },
          },
        },
      },
    },
    /** The table is serialised and saved (bounded in time). */
    stopping: {
      after: { saveTimeout: 'stopped' },
      initial: 'serializing',
      states: {
        serializing: {
          entry: 'serializeTable',
          on: { 'dht.serialized': { target: 'saving', actions: assign(({ event }) => ({ saveText: event.text })) } },
        },
        saving: {
          invoke: {
            src: 'saveTable',
            input: ({ context }) => ({ text: context.saveText ?? '' }),
            onDone: '#dht.stopped',
            onError: '#dht.stopped',
          },
        },
      },
    },
    stopped: { type: 'final' },
    /** The socket could not be had: no DHT for this engine. */
    failed: { type: 'final' },
  },
});
