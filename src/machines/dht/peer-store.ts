/**
 * The peers other nodes announced to us (BEP 5 announce_peer), which our get_peers answers hand out as
 * `values`: info hash → peers, each with an expiry.
 *
 * Bounded on everything a remote party can grow: at most `maxInfoHashes` info hashes (the one announced
 * to least recently goes first), `maxPeersPerInfoHash` peers per info hash and `maxPeers` in all (the
 * oldest announce goes first). A peer is keyed by its normalised address and port (`peerKey`): announcing
 * again refreshes it. The caller has already checked the token and resolved `implied_port` to a port.
 *
 * Pure: no clock (`now` in ms on every call), randomness from a seeded generator, so a sample is the same
 * for the same seed and the same calls. Owned by the DHT node actor, changed only in its named actions.
 *
 * @example
 * const store = new PeerStore({ seed: 1 });
 * store.add(infoHash, { host: '10.0.0.1', port: 6881, family: 4 }, now);
 * store.get(infoHash, now); // [{ host: '10.0.0.1', port: 6881, family: 4 }]
 */
import { type PeerAddress, normaliseHost, peerKey } from '../../protocol/peer-address.js';
import { nextRandom } from '../random.js';
import { type NodeId, idToHex, isNodeId } from './node-id.js';

/** How long an announce is kept (libtorrent and bittorrent-dht keep 30 min; clients re-announce every 15–30). */
export const PEER_TTL_MS = 30 * 60_000;
/** Default cap on info hashes stored. */
export const MAX_INFO_HASHES = 2_000;
/** Default cap on peers per info hash. */
export const MAX_PEERS_PER_INFO_HASH = 200;
/** Default cap on peers in all. */
export const MAX_PEERS = 20_000;
/** Default number of peers one get_peers answer hands out. */
export const DEFAULT_SAMPLE = 50;

export interface PeerStoreOptions {
  maxInfoHashes?: number;
  maxPeersPerInfoHash?: number;
  maxPeers?: number;
  ttlMs?: number;
  /** Seed of the generator that picks samples. Default 0. */
  seed?: number;
}

/** What became of an announce. */
export type StoreOutcome = 'added' | 'refreshed' | 'rejected';

interface Entry {
  peer: PeerAddress;
  addedAt: number;
}

interface Swarm {
  /** Keyed by peerKey; Map order is announce order, oldest first (a refresh moves a peer to the end). */
  peers: Map<string, Entry>;
}

const positive = (v: number, name: string): number => {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer`);
  return v;
};

/** See the module comment. */
export class PeerStore {
  readonly maxInfoHashes: number;
  readonly maxPeersPerInfoHash: number;
  readonly maxPeers: number;
  readonly ttlMs: number;
  /** Keyed by the info hash's hex; Map order is the order of the last announce, least recent first. */
  private readonly swarms = new Map<string, Swarm>();
  private peers = 0;
  private rng: number;

  constructor(options: PeerStoreOptions = {}) {
    this.maxInfoHashes = positive(options.maxInfoHashes ?? MAX_INFO_HASHES, 'maxInfoHashes');
    this.maxPeersPerInfoHash = positive(options.maxPeersPerInfoHash ?? MAX_PEERS_PER_INFO_HASH, 'maxPeersPerInfoHash');
    this.maxPeers = positive(options.maxPeers ?? MAX_PEERS, 'maxPeers');
    this.ttlMs = positive(options.ttlMs ?? PEER_TTL_MS, 'ttlMs');
    this.rng = (options.seed ?? 0) | 0;
  }

  /** Info hashes held. */
  get infoHashCount(): number {
    return this.swarms.size;
  }

  /** Peers held, all info hashes together (expired ones count until {@link expire} or a `get` drops them). */
  get peerCount(): number {
    return this.peers;
  }

  /** Peers held for one info hash (expired ones included until dropped). */
  countFor(infoHash: NodeId): number {
    return this.swarms.get(idToHex(infoHash))?.peers.size ?? 0;
  }

  /**
   * Records that `peer` announced `infoHash` at `now`. `rejected` for an info hash that is not 20 bytes or
   * a peer whose host is not an IP address or whose port is not 1..65535.
   */
  add(infoHash: NodeId, peer: PeerAddress, now: number): StoreOutcome {
    if (!isNodeId(infoHash)) return 'rejected';
    const host = normaliseHost(peer.host);
    if (!host || !Number.isInteger(peer.port) || peer.port < 1 || peer.port > 0xffff) return 'rejected';
    const clean: PeerAddress = { host: host.host, port: peer.port, family: host.family };
    const hashKey = idToHex(infoHash);
    let swarm = this.swarms.get(hashKey);
    if (swarm) {
      this.swarms.delete(hashKey); // to the end: announced to most recently
      this.swarms.set(hashKey, swarm);
    } else {
      if (this.swarms.size >= this.maxInfoHashes) this.dropSwarm(this.swarms.keys().next().value!);
      swarm = { peers: new Map() };
      this.swarms.set(hashKey, swarm);
    }
    const key = peerKey(clean);
    if (swarm.peers.delete(key)) {
      swarm.peers.set(key, { peer: clean, addedAt: now });
      return 'refreshed';
    }
    if (swarm.peers.size >= this.maxPeersPerInfoHash) this.dropOldestOf(swarm);
    if (this.peers >= this.maxPeers) this.dropOldestAnywhere(hashKey);
    swarm.peers.set(key, { peer: clean, addedAt: now });
    this.peers++;
    return 'added';
  }

  /**
   * Up to `max` live peers announced for `infoHash` (only of `family` when given), in an order drawn from
   * the store's seeded generator: a fair sample when there are more than `max`. Drops the expired ones it meets.
   */
  get(infoHash: NodeId, now: number, max = DEFAULT_SAMPLE, family?: 4 | 6): PeerAddress[] {
    if (!isNodeId(infoHash) || !(max >= 1)) return [];
    const hashKey = idToHex(infoHash);
    const swarm = this.swarms.get(hashKey);
    if (!swarm) return [];
    this.expireSwarm(hashKey, swarm, now);
    const live: PeerAddress[] = [];
    for (const e of swarm.peers.values()) if (family === undefined || e.peer.family === family) live.push(e.peer);
    // Partial Fisher–Yates: the first `n` places get a uniform sample.
    const n = Math.min(Math.floor(max), live.length);
    for (let i = 0; i < n; i++) {
      const [x, next] = nextRandom(this.rng);
      this.rng = next;
      const j = i + Math.floor(x * (live.length - i));
      const t = live[i]!;
      live[i] = live[j]!;
      live[j] = t;
    }
    return live.slice(0, n).map((p) => ({ ...p }));
  }

  /** Drops every announce older than the time to live; returns how many peers went. */
  expire(now: number): number {
    const before = this.peers;
    for (const [hashKey, swarm] of [...this.swarms]) this.expireSwarm(hashKey, swarm, now);
    return before - this.peers;
  }

  private expireSwarm(hashKey: string, swarm: Swarm, now: number): void {
    for (const [key, e] of swarm.peers) {
      if (now - e.addedAt < this.ttlMs) continue;
      swarm.peers.delete(key);
      this.peers--;
    }
    if (swarm.peers.size === 0) this.swarms.delete(hashKey);
  }

  private dropSwarm(hashKey: string): void {
    const swarm = this.swarms.get(hashKey);
    if (!swarm) return;
    this.peers -= swarm.peers.size;
    this.swarms.delete(hashKey);
  }

  private dropOldestOf(swarm: Swarm): void {
    const first = swarm.peers.keys().next();
    if (first.done) return;
    swarm.peers.delete(first.value);
    this.peers--;
  }

  /** Drops the oldest peer of the least recently announced swarm other than `keep` (or of `keep` if it is the only one). */
  private dropOldestAnywhere(keep: string): void {
    for (const [hashKey, swarm] of this.swarms) {
      if (hashKey === keep && this.swarms.size > 1) continue;
      this.dropOldestOf(swarm);
      if (swarm.peers.size === 0 && hashKey !== keep) this.swarms.delete(hashKey);
      return;
    }
  }
}
