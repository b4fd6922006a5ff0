/**
 * The DHT routing table of BEP 5: k-buckets of k = 8 nodes, split only on our own id, with node
 * liveness (good / questionable / bad), a small replacement cache per bucket, bucket refresh and a cap
 * on everything a remote party can grow.
 *
 * Layout: buckets[i] for i < last holds the nodes sharing exactly i leading bits with our id; the last
 * bucket holds every node sharing at least `last` bits — the one bucket whose range contains our id, so
 * the only one that ever splits. That is BEP 5's table of ranges (a full bucket containing our id
 * splits in two halves) written by prefix length.
 *
 * Ownership: one table belongs to one DHT node actor, which alone calls its mutating methods (in named
 * actions); it holds no timers and reads no clock — every method that depends on time takes `now`
 * (ms). What needs I/O comes back as data: `ping` lists the questionable nodes the caller should ping.
 *
 * Who gets in: only a node that answered one of our queries (the caller matched the response by
 * transaction id and address, so the address is not spoofed). A node that only queried us is reported
 * back with `ping` when it would be welcome, so the caller can verify it first.
 */
import { BtError } from '../../protocol/errors.js';
import { normaliseHost } from '../../protocol/peer-address.js';
import {
  NODE_ID_BITS,
  type NodeContact,
  type NodeId,
  bep42Exempt,
  bep42Valid,
  bucketIndexOf,
  commonPrefixBits,
  compareDistance,
  idEquals,
  idFromHex,
  idToHex,
  isNodeId,
  randomIdInRange,
} from './node-id.js';

/** BEP 5: nodes per bucket. */
export const K = 8;
/** BEP 5: a node is good for 15 minutes after its last response (or query, once it has responded). */
export const GOOD_FOR_MS = 15 * 60_000;
/** BEP 5: a bucket not changed for 15 minutes is refreshed. */
export const REFRESH_AFTER_MS = 15 * 60_000;

export type NodeStatus = 'good' | 'questionable' | 'bad';

/** A node in the table. Read-only outside the table. */
export interface RoutingNode extends NodeContact {
  /** Hex of the id. */
  readonly key: string;
  /** When it last answered one of our queries (ms); undefined for a node loaded from disk and not heard since. */
  readonly lastResponse: number | undefined;
  /** When it last sent us a query (ms). */
  readonly lastQuery: number | undefined;
  /** Our queries it failed to answer in a row. */
  readonly failures: number;
  /** When we last asked the caller to ping it (so it is not asked twice in a row). */
  readonly pingedAt: number | undefined;
}

interface NodeRecord extends NodeContact {
  key: string;
  lastResponse: number | undefined;
  lastQuery: number | undefined;
  failures: number;
  pingedAt: number | undefined;
}

interface Bucket {
  nodes: NodeRecord[];
  /** Nodes that answered us while the bucket was full, newest last. */
  replacements: NodeRecord[];
  /** BEP 5's "last changed": a node added, replaced, or answering. */
  changedAt: number;
}

export interface RoutingTableOptions {
  /** Nodes per bucket. Default {@link K}. */
  k?: number;
  /** Nodes in all buckets at most (replacement caches not counted). Default 1,024. */
  maxNodes?: number;
  /** Replacement cache per bucket. Default 8. */
  maxReplacements?: number;
  /** Unanswered queries in a row after which a node is bad. Default 2. */
  maxFailures?: number;
  /** A questionable node is asked to be pinged at most once per this long. Default 30 s. */
  pingIntervalMs?: number;
  /**
   * Refuse nodes whose id does not match their address per BEP 42 (exempt addresses always pass).
   * Default false, as libtorrent's `dht_enforce_node_id`: many nodes predate BEP 42.
   */
  requireBep42?: boolean;
  /**
   * At most one node per IP address, except addresses exempt under BEP 42 (loopback, private ranges),
   * as libtorrent's `dht_restrict_routing_ips`. Default true.
   */
  onePerIp?: boolean;
}

/** What became of a node the table heard from. */
export type InsertOutcome = 'added' | 'updated' | 'replaced' | 'cached' | 'unverified' | 'rejected';

export interface InsertResult {
  outcome: InsertOutcome;
  /** Why a node was rejected: our own id, an id already at another address, its IP taken, BEP 42, the cap. */
  reason?: 'self' | 'id-conflict' | 'ip-taken' | 'bep42' | 'invalid';
  /** A bad node it took the place of (outcome `replaced`). */
  evicted?: NodeContact;
  /** Nodes the caller should ping (questionable ones in a full bucket, or this unverified node). */
  ping: NodeContact[];
}

/** A bucket to refresh by a find_node lookup for `target`. */
export interface RefreshTarget {
  bucket: number;
  target: NodeId;
}

export interface RoutingTableStats {
  nodes: number;
  good: number;
  questionable: number;
  bad: number;
  buckets: number;
  replacements: number;
}

const contactOf = (n: NodeContact): NodeContact => ({ id: n.id, host: n.host, port: n.port });
const addressKey = (host: string, port: number): string => `${host}|${port}`;

/**
 * A BEP 5 routing table around `ownId`.
 *
 * @example
 * const table = new RoutingTable(ownId);
 * const { ping } = table.onResponse({ id, host: '127.0.0.1', port: 6881 }, now);
 * table.closest(infoHash, 8, now); // the 8 nodes closest to infoHash, closest first
 */
export class RoutingTable {
  readonly ownId: NodeId;
  readonly k: number;
  private readonly maxNodes: number;
  private readonly maxReplacements: number;
  private readonly maxFailures: number;
  private readonly pingIntervalMs: number;
  private readonly requireBep42: boolean;
  private readonly onePerIp: boolean;
  private readonly options: RoutingTableOptions;
  private readonly buckets: Bucket[];
  private readonly byId = new Map<string, NodeRecord>();
  private readonly byAddress = new Map<string, NodeRecord>();
  private readonly perIp = new Map<string, number>();

  constructor(ownId: NodeId, options: RoutingTableOptions = {}, now = 0) {
    if (!isNodeId(ownId)) throw new RangeError('a node id is 20 bytes');
    this.ownId = Uint8Array.from(ownId);
    this.k = Math.max(1, options.k ?? K);
    this.maxNodes = Math.max(this.k, options.maxNodes ?? 1_024);
    this.maxReplacements = Math.max(0, options.maxReplacements ?? 8);
    this.maxFailures = Math.max(1, options.maxFailures ?? 2);
    this.pingIntervalMs = Math.max(0, options.pingIntervalMs ?? 30_000);
    this.requireBep42 = options.requireBep42 ?? false;
    this.onePerIp = options.onePerIp ?? true;
    this.options = { ...options };
    this.buckets = [{ nodes: [], replacements: [], changedAt: now }];
  }

  /** Nodes in the buckets. */
  get size(): number {
    return this.byId.size;
  }

  get bucketCount(): number {
    return this.buckets.length;
  }

  /** The node with this id, if the table holds it. */
  get(id: NodeId): RoutingNode | undefined {
    return this.byId.get(idToHex(id));
  }

  /** Every node, bucket by bucket. */
  *nodes(): IterableIterator<RoutingNode> {
    for (const b of this.buckets) yield* b.nodes;
  }

  /** The nodes of bucket `i` (a copy) and its replacement cache, for tests and the inspector. */
  bucket(i: number): { nodes: RoutingNode[]; replacements: RoutingNode[]; changedAt: number } {
    const b = this.buckets[i];
    if (!b) throw new RangeError(`no bucket ${i}`);
    return { nodes: [...b.nodes], replacements: [...b.replacements], changedAt: b.changedAt };
  }

  /** BEP 5 liveness of a node at `now`. */
  status(node: RoutingNode, now: number): NodeStatus {
    if (node.failures >= this.maxFailures) return 'bad';
    if (node.lastResponse === undefined) return 'questionable';
    if (now - node.lastResponse < GOOD_FOR_MS) return 'good';
    if (node.lastQuery !== undefined && now - node.lastQuery < GOOD_FOR_MS) return 'good';
    return 'questionable';
  }

  /** The bucket an id falls in. */
  bucketIndex(id: NodeId): number {
    return bucketIndexOf(this.ownId, id, this.buckets.length);
  }

  /**
   * A node answered one of our queries (matched by transaction id and address): it becomes good,
   * enters the table if there is room (splitting the bucket that holds our id, or taking a bad node's
   * place), else waits in the bucket's replacement cache while the caller pings the questionable.
   */
  onResponse(contact: NodeContact, now: number): InsertResult {
    const refused = this.refuse(contact);
    if (refused) return { outcome: 'rejected', reason: refused, ping: [] };
    const key = idToHex(contact.id);
    const known = this.byId.get(key);
    if (known) {
      if (known.host !== contact.host || known.port !== contact.port) {
        // One id, two addresses: keep the one we know unless it stopped answering.
        if (this.status(known, now) !== 'bad') return { outcome: 'rejected', reason: 'id-conflict', ping: [] };
        if (!this.ipAllowed(contact.host, known.host)) return { outcome: 'rejected', reason: 'ip-taken', ping: [] };
        this.unindex(known);
        known.host = contact.host;
        known.port = contact.port;
        this.index(known);
      }
      known.lastResponse = now;
      known.failures = 0;
      known.pingedAt = undefined;
      this.buckets[this.bucketIndex(known.id)]!.changedAt = now;
      return { outcome: 'updated', ping: [] };
    }
    // Someone else at this address before: the node there changed its id (a restart); the answer proves it.
    const previous = this.byAddress.get(addressKey(contact.host, contact.port));
    if (previous) this.removeRecord(previous);
    if (!this.ipAllowed(contact.host)) return { outcome: 'rejected', reason: 'ip-taken', ping: [] };
    const record: NodeRecord = {
      id: Uint8Array.from(contact.id),
      host: contact.host,
      port: contact.port,
      key,
      lastResponse: now,
      lastQuery: undefined,
      failures: 0,
      pingedAt: undefined,
    };
    return this.insert(record, now);
  }

  /**
   * A node sent us a query. A known node (same id and address) stays good; an unknown one is not
   * taken on its word: when the table would take it, it comes back in `ping` (outcome `unverified`),
   * and its answer to that ping goes through {@link onResponse}.
   */
  onQuery(contact: NodeContact, now: number): InsertResult {
    const refused = this.refuse(contact);
    if (refused) return { outcome: 'rejected', reason: refused, ping: [] };
    const known = this.byId.get(idToHex(contact.id));
    if (known) {
      if (known.host !== contact.host || known.port !== contact.port) {
        return { outcome: 'rejected', reason: 'id-conflict', ping: [] };
      }
      known.lastQuery = now;
      return { outcome: 'updated', ping: [] };
    }
    if (!this.ipAllowed(contact.host)) return { outcome: 'rejected', reason: 'ip-taken', ping: [] };
    return { outcome: 'unverified', ping: this.wouldAccept(contact.id, now) ? [contactOf(contact)] : [] };
  }

  /**
   * A query to this node went unanswered. A node that waits in the replacement cache takes its place
   * at once (as libtorrent does); otherwise it stays until it is bad and something better comes.
   * Returns the node that replaced it, if any.
   */
  onTimeout(id: NodeId, now: number): NodeContact | undefined {
    const key = idToHex(id);
    const record = this.byId.get(key);
    const bucket = this.buckets[this.bucketIndex(id)]!;
    if (!record) {
      const i = bucket.replacements.findIndex((r) => r.key === key);
      if (i >= 0) bucket.replacements.splice(i, 1);
      return undefined;
    }
    record.failures++;
    record.pingedAt = undefined;
    const replacement = this.takeReplacement(bucket);
    if (!replacement) return undefined;
    const at = bucket.nodes.indexOf(record);
    this.unindex(record);
    bucket.nodes[at] = replacement;
    this.index(replacement);
    bucket.changedAt = now;
    return contactOf(replacement);
  }

  /** Forgets a node (e.g. one that lied). Returns whether it was there. */
  remove(id: NodeId): boolean {
    const record = this.byId.get(idToHex(id));
    if (!record) return false;
    this.removeRecord(record);
    return true;
  }

  /**
   * Up to `n` nodes closest to `target` in the XOR metric, closest first; never bad nodes, and with
   * `goodOnly` only good ones (what BEP 5 asks for in answers to find_node and get_peers).
   * Walks the buckets from the target's outwards instead of sorting the whole table.
   */
  closest(target: NodeId, n: number, now: number, options: { goodOnly?: boolean } = {}): RoutingNode[] {
    const out: RoutingNode[] = [];
    if (n <= 0) return out;
    const keep = (r: NodeRecord): boolean => {
      const s = this.status(r, now);
      return s === 'good' || (s === 'questionable' && !options.goodOnly);
    };
    const sortInto = (group: NodeRecord[]): void => {
      group.sort((a, b) => compareDistance(target, a.id, b.id));
      for (const r of group) {
        if (out.length >= n) return;
        out.push(r);
      }
    };
    const last = this.buckets.length - 1;
    const t = this.bucketIndex(target);
    // Bucket t shares t + 1 or more bits with the target; the buckets after it share exactly t; bucket
    // j < t shares exactly j — so t, then (t + 1 … last) together, then t − 1 down to 0.
    sortInto(this.buckets[t]!.nodes.filter(keep));
    if (t < last && out.length < n) {
      const group: NodeRecord[] = [];
      for (let j = t + 1; j <= last; j++) for (const r of this.buckets[j]!.nodes) if (keep(r)) group.push(r);
      sortInto(group);
    }
    for (let j = t - 1; j >= 0 && out.length < n; j--) sortInto(this.buckets[j]!.nodes.filter(keep));
    return out;
  }

  /**
   * The buckets not changed for {@link REFRESH_AFTER_MS}, each with a random target in its range
   * (BEP 5: refresh by a find_node lookup for it). Marks them changed at `now`, so a lookup that finds
   * nothing new does not make them due again before another 15 minutes.
   */
  refreshDue(now: number, random: () => number): RefreshTarget[] {
    const due: RefreshTarget[] = [];
    const last = this.buckets.length - 1;
    this.buckets.forEach((b, i) => {
      if (now - b.changedAt < REFRESH_AFTER_MS) return;
      due.push({ bucket: i, target: randomIdInRange(this.ownId, i, i === last, random) });
      b.changedAt = now;
    });
    return due;
  }

  /** Counts for the inspector. */
  stats(now: number): RoutingTableStats {
    const s = { nodes: 0, good: 0, questionable: 0, bad: 0, buckets: this.buckets.length, replacements: 0 };
    for (const b of this.buckets) {
      s.replacements += b.replacements.length;
      for (const r of b.nodes) {
        s.nodes++;
        s[this.status(r, now)]++;
      }
    }
    return s;
  }

  /**
   * The table as compact JSON for saving on exit: our id and every node's id and address (not its
   * timings: a node loaded back is questionable until it answers). Validated by
   * {@link deserializeRoutingTable}.
   */
  serialize(): string {
    const nodes: [string, string, number][] = [];
    for (const r of this.nodes()) nodes.push([r.key, r.host, r.port]);
    return JSON.stringify({ v: 1, id: idToHex(this.ownId), nodes } satisfies SavedTable);
  }

  // ---- internals ----------------------------------------------------------------------------------

  private refuse(contact: NodeContact): InsertResult['reason'] | undefined {
    if (!isNodeId(contact.id)) return 'invalid';
    if (!Number.isInteger(contact.port) || contact.port < 1 || contact.port > 0xffff) return 'invalid';
    if (idEquals(contact.id, this.ownId)) return 'self';
    if (this.requireBep42 && !bep42Valid(contact.id, contact.host)) return 'bep42';
    return undefined;
  }

  /** One node per IP unless exempt; `replacing` is the host of the node that leaves for it. */
  private ipAllowed(host: string, replacing?: string): boolean {
    if (!this.onePerIp || bep42Exempt(host) || host === replacing) return true;
    return (this.perIp.get(host) ?? 0) === 0;
  }

  private index(r: NodeRecord): void {
    this.byId.set(r.key, r);
    this.byAddress.set(addressKey(r.host, r.port), r);
    this.perIp.set(r.host, (this.perIp.get(r.host) ?? 0) + 1);
  }

  private unindex(r: NodeRecord): void {
    this.byId.delete(r.key);
    this.byAddress.delete(addressKey(r.host, r.port));
    const left = (this.perIp.get(r.host) ?? 1) - 1;
    if (left > 0) this.perIp.set(r.host, left);
    else this.perIp.delete(r.host);
  }

  private removeRecord(r: NodeRecord): void {
    const bucket = this.buckets[this.bucketIndex(r.id)]!;
    const at = bucket.nodes.indexOf(r);
    if (at >= 0) bucket.nodes.splice(at, 1);
    this.unindex(r);
    const replacement = this.takeReplacement(bucket);
    if (replacement) {
      bucket.nodes.push(replacement);
      this.index(replacement);
    }
  }

  /** The newest replacement that may still enter (its IP not taken meanwhile). */
  private takeReplacement(bucket: Bucket): NodeRecord | undefined {
    while (bucket.replacements.length > 0) {
      const r = bucket.replacements.pop()!;
      if (!this.byId.has(r.key) && !this.byAddress.has(addressKey(r.host, r.port)) && this.ipAllowed(r.host)) return r;
    }
    return undefined;
  }

  /** Would a verified node with this id get in now (room, a split, or a bad node to replace)? */
  private wouldAccept(id: NodeId, now: number): boolean {
    const i = this.bucketIndex(id);
    const b = this.buckets[i]!;
    if (b.nodes.length < this.k)
      return this.byId.size < this.maxNodes || b.nodes.some((r) => this.status(r, now) === 'bad');
    if (b.nodes.some((r) => this.status(r, now) === 'bad')) return true;
    return i === this.buckets.length - 1 && this.canSplit();
  }

  private canSplit(): boolean {
    return this.buckets.length < NODE_ID_BITS && this.byId.size < this.maxNodes;
  }

  private insert(record: NodeRecord, now: number): InsertResult {
    for (;;) {
      const i = this.bucketIndex(record.id);
      const bucket = this.buckets[i]!;
      if (bucket.nodes.length < this.k && this.byId.size < this.maxNodes) {
        bucket.nodes.push(record);
        this.index(record);
        bucket.changedAt = now;
        this.dropReplacement(bucket, record.key);
        return { outcome: 'added', ping: [] };
      }
      const bad = this.worstBad(bucket, now);
      if (bad) {
        const at = bucket.nodes.indexOf(bad);
        this.unindex(bad);
        bucket.nodes[at] = record;
        this.index(record);
        bucket.changedAt = now;
        this.dropReplacement(bucket, record.key);
        return { outcome: 'replaced', evicted: contactOf(bad), ping: [] };
      }
      if (bucket.nodes.length >= this.k && i === this.buckets.length - 1 && this.canSplit()) {
        this.split();
        continue;
      }
      this.cacheReplacement(bucket, record);
      return { outcome: 'cached', ping: this.questionableToPing(bucket, now) };
    }
  }

  private worstBad(bucket: Bucket, now: number): NodeRecord | undefined {
    let worst: NodeRecord | undefined;
    for (const r of bucket.nodes) {
      if (this.status(r, now) !== 'bad') continue;
      if (!worst || r.failures > worst.failures) worst = r;
    }
    return worst;
  }

  /** BEP 5: ping the least recently seen questionable node (one at a time). */
  private questionableToPing(bucket: Bucket, now: number): NodeContact[] {
    let pick: NodeRecord | undefined;
    let pickSeen = Infinity;
    for (const r of bucket.nodes) {
      if (this.status(r, now) !== 'questionable') continue;
      if (r.pingedAt !== undefined && now - r.pingedAt < this.pingIntervalMs) continue;
      const seen = Math.max(r.lastResponse ?? -Infinity, r.lastQuery ?? -Infinity);
      if (seen < pickSeen || !pick) {
        pick = r;
        pickSeen = seen;
      }
    }
    if (!pick) return [];
    pick.pingedAt = now;
    return [contactOf(pick)];
  }

  private cacheReplacement(bucket: Bucket, record: NodeRecord): void {
    if (this.maxReplacements === 0) return;
    this.dropReplacement(bucket, record.key);
    const sameAddress = bucket.replacements.findIndex((r) => r.host === record.host && r.port === record.port);
    if (sameAddress >= 0) bucket.replacements.splice(sameAddress, 1);
    bucket.replacements.push(record);
    if (bucket.replacements.length > this.maxReplacements) bucket.replacements.shift();
  }

  private dropReplacement(bucket: Bucket, key: string): void {
    const i = bucket.replacements.findIndex((r) => r.key === key);
    if (i >= 0) bucket.replacements.splice(i, 1);
  }

  /** Splits the last bucket: the nodes sharing more than `last` bits with our id move to a new one. */
  private split(): void {
    const last = this.buckets.length - 1;
    const old = this.buckets[last]!;
    const next: Bucket = { nodes: [], replacements: [], changedAt: old.changedAt };
    const stays = (r: NodeRecord): boolean => commonPrefixBits(this.ownId, r.id) === last;
    next.nodes = old.nodes.filter((r) => !stays(r));
    old.nodes = old.nodes.filter(stays);
    next.replacements = old.replacements.filter((r) => !stays(r));
    old.replacements = old.replacements.filter(stays);
    this.buckets.push(next);
  }

  /** Puts a node loaded from disk in (no verification: it is questionable until it answers). */
  private load(contact: NodeContact, now: number): void {
    if (this.refuse(contact) || this.byId.has(idToHex(contact.id))) return;
    if (this.byAddress.has(addressKey(contact.host, contact.port)) || !this.ipAllowed(contact.host)) return;
    const record: NodeRecord = {
      ...contactOf(contact),
      id: Uint8Array.from(contact.id),
      key: idToHex(contact.id),
      lastResponse: undefined,
      lastQuery: undefined,
      failures: 0,
      pingedAt: undefined,
    };
    const result = this.insert(record, now);
    // A loaded node never waits as a replacement (replacements are nodes that answered).
    if (result.outcome === 'cached') this.dropReplacement(this.buckets[this.bucketIndex(record.id)]!, record.key);
  }

  /** @internal used by {@link deserializeRoutingTable}. */
  /**
   * The same nodes around another own id (BEP 42 gave us a new one): a new table with the same options,
   * every node loaded as from disk (questionable until it answers again). This table is left as it was.
   */
  withOwnId(ownId: NodeId, now: number): RoutingTable {
    const nodes = [...this.nodes()].map((n) => ({ id: n.id, host: n.host, port: n.port }));
    return RoutingTable.fromSaved(ownId, nodes, this.options, now);
  }

  static fromSaved(ownId: NodeId, nodes: NodeContact[], options: RoutingTableOptions, now: number): RoutingTable {
    const table = new RoutingTable(ownId, options, now);
    for (const c of nodes) table.load(c, now);
    return table;
  }
}

/** The saved form: `{ "v": 1, "id": "<40 hex>", "nodes": [["<40 hex>", "<ip>", <port>], …] }`. */
interface SavedTable {
  v: 1;
  id: string;
  nodes: [string, string, number][];
}

/** The largest saved table read (a table of 1,024 nodes takes about 80 KB). */
export const MAX_SAVED_TABLE_BYTES = 1 << 20;

/**
 * Reads a table saved by {@link RoutingTable.serialize}. Strict: anything but that exact shape (an
 * unknown version, a bad id, a host that is not a normalised IP address, a port outside 1..65535, a
 * duplicate node, more entries than the table may hold, more than {@link MAX_SAVED_TABLE_BYTES})
 * throws a BtError `BT_ERR_DHT_TABLE`; the caller then starts with an empty table. `ownId` replaces
 * the saved id (e.g. after BEP 42 gave us a new one). Loaded nodes are questionable until they answer.
 *
 * @example const table = deserializeRoutingTable(await readFile(path, 'utf8'), { now: Date.now() });
 */
export function deserializeRoutingTable(
  text: string,
  options: RoutingTableOptions & { now?: number; ownId?: NodeId } = {},
): RoutingTable {
  const fail = (why: string): never => {
    throw new BtError('BT_ERR_DHT_TABLE', `saved DHT routing table: ${why}`);
  };
  if (typeof text !== 'string') fail('not text');
  if (text.length > MAX_SAVED_TABLE_BYTES) fail(`${text.length} bytes, more than ${MAX_SAVED_TABLE_BYTES}`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return fail('not JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return fail('not an object');
  const saved = data as Record<string, unknown>;
  const keys = Object.keys(saved).sort().join(',');
  if (keys !== 'id,nodes,v') fail(`fields ${keys || '(none)'}, expected id, nodes, v`);
  if (saved.v !== 1) fail(`version ${JSON.stringify(saved.v)}, expected 1`);
  const savedId = typeof saved.id === 'string' ? idFromHex(saved.id) : null;
  if (!savedId || saved.id !== (saved.id as string).toLowerCase()) return fail('id is not 40 lowercase hex digits');
  const ownId = options.ownId ?? savedId;
  if (!Array.isArray(saved.nodes)) return fail('nodes is not a list');
  const cap = Math.max(options.k ?? K, options.maxNodes ?? 1_024);
  if (saved.nodes.length > cap) fail(`${saved.nodes.length} nodes, more than ${cap}`);
  const seen = new Set<string>();
  const nodes: NodeContact[] = [];
  saved.nodes.forEach((entry: unknown, i: number) => {
    if (!Array.isArray(entry) || entry.length !== 3) return fail(`node ${i} is not [id, host, port]`);
    const [hex, host, port] = entry as unknown[];
    const id = typeof hex === 'string' && hex === hex.toLowerCase() ? idFromHex(hex) : null;
    if (!id) return fail(`node ${i}: id is not 40 lowercase hex digits`);
    if (typeof host !== 'string' || normaliseHost(host)?.host !== host)
      return fail(`node ${i}: ${JSON.stringify(host)} is not a normalised IP address`);
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 0xffff) {
      return fail(`node ${i}: port ${JSON.stringify(port)} is not in 1..65535`);
    }
    if (seen.has(hex as string)) return fail(`node ${i}: ${hex as string} twice`);
    seen.add(hex as string);
    nodes.push({ id, host, port });
  });
  return RoutingTable.fromSaved(ownId, nodes, options, options.now ?? 0);
}
