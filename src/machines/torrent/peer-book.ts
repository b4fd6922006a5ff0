/**
 * The addresses a torrent knows (from trackers, `--peer`, incoming connections), which of them are
 * connected, and when the others may be tried again. Pure: time advances only through `tick`, which
 * the torrent statechart calls from a timer on the actor system's clock.
 *
 * Bounded, because peers and trackers choose what goes in: at most `maxKnown` addresses (past it the
 * least useful one not connected makes room: one we gave up on, then one we cannot dial, then the one
 * that failed most), and at most `maxPerBatch` new ones from one tracker reply or peer list. The record of
 * an incoming connection (an ephemeral port nobody listens on) is kept after it closes only to name the
 * peer in a ban; it is the first to go when room is needed.
 * Choosing whom to dial is one pass over the records (bucketed by failures), never a sort.
 */
import { peerKey, type PeerAddress } from '../../protocol/peer-address.js';

export interface PeerRecord {
  key: string;
  address: PeerAddress;
  /** Consecutive failed connections (reset by a connection that did useful work). */
  failures: number;
  /** Virtual time (ms) before which it is not dialled again. */
  retryAt: number;
  connected: boolean;
  /** The peer id its last handshake gave (hex), so a ban can name it after it left. */
  peerId: string | undefined;
  /** Never dial again (ourselves, another torrent, …). */
  dead: boolean;
  /** False for the source address of an incoming connection (an ephemeral port nobody listens on). */
  dialable: boolean;
  /**
   * BEP 52: only a lookup under a hybrid's v2 hash named it (every address it was learnt as had
   * `viaV2`): it is dialled with the truncated v2 hash. Any other source (the v1 lookup, PEX, `--peer`,
   * an incoming connection) clears it.
   */
  v2Only: boolean;
}

export interface PeerBookOptions {
  /** First reconnect delay; doubles per consecutive failure. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Give up on an address after this many consecutive failures. */
  maxFailures?: number;
  /** Addresses kept at most. Default {@link DEFAULT_MAX_KNOWN}. */
  maxKnown?: number;
  /** New addresses taken from one list (a tracker reply, `--peer`s). Default {@link DEFAULT_MAX_PER_BATCH}. */
  maxPerBatch?: number;
}

export const DEFAULT_MAX_KNOWN = 2_000;
export const DEFAULT_MAX_PER_BATCH = 200;

export class PeerBook {
  private readonly records = new Map<string, PeerRecord>();
  private now = 0;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly maxFailures: number;
  private readonly maxKnown: number;
  private readonly maxPerBatch: number;

  constructor(options: PeerBookOptions = {}) {
    this.retryBaseMs = options.retryBaseMs ?? 5_000;
    this.retryMaxMs = options.retryMaxMs ?? 5 * 60_000;
    this.maxFailures = options.maxFailures ?? 8;
    this.maxKnown = Math.max(1, options.maxKnown ?? DEFAULT_MAX_KNOWN);
    this.maxPerBatch = Math.max(1, options.maxPerBatch ?? DEFAULT_MAX_PER_BATCH);
  }

  get size(): number {
    return this.records.size;
  }

  get(key: string): PeerRecord | undefined {
    return this.records.get(key);
  }

  /**
   * Adds an address; returns its record (existing records are kept as they are, except that an address
   * learned as dialable becomes dialable).
   */
  add(address: PeerAddress, options: { dialable?: boolean } = {}): PeerRecord {
    const key = peerKey(address);
    const dialable = options.dialable ?? true;
    const { viaV2, ...plain } = address;
    let r = this.records.get(key);
    if (!r) {
      if (this.records.size >= this.maxKnown) this.evictOne();
      r = {
        key,
        address: viaV2 ? plain : address,
        failures: 0,
        retryAt: 0,
        connected: false,
        peerId: undefined,
        dead: false,
        dialable,
        v2Only: viaV2 === true,
      };
      this.records.set(key, r);
    } else {
      if (dialable) r.dialable = true;
      if (!viaV2) r.v2Only = false;
    }
    return r;
  }

  /** The address to dial for a record: marked `viaV2` when only the v2 lookup named it. */
  dialAddress(r: PeerRecord): PeerAddress {
    return r.v2Only ? { ...r.address, viaV2: true } : r.address;
  }

  /**
   * Adds the addresses of one list (a tracker reply, `--peer`s), at most `maxPerBatch` of them new;
   * returns how many were new.
   */
  addAll(addresses: readonly PeerAddress[]): number {
    let added = 0;
    for (const a of addresses) {
      if (added >= this.maxPerBatch) break;
      if (!this.records.has(peerKey(a))) added++;
      this.add(a);
    }
    return added;
  }

  /** Drops the least useful record that is not connected (there is one unless all are connected). */
  private evictOne(): void {
    let worst: PeerRecord | undefined;
    let worstScore = -1;
    for (const r of this.records.values()) {
      if (r.connected) continue;
      const score = r.dead ? 3 * this.maxFailures + 2 : !r.dialable ? 2 * this.maxFailures + 1 : r.failures;
      if (score > worstScore) {
        worst = r;
        worstScore = score;
        if (r.dead) break;
      }
    }
    if (worst) this.records.delete(worst.key);
  }

  /** Marks an address as never to be dialled (e.g. our own listening address). */
  markDead(key: string): void {
    const r = this.records.get(key);
    if (r) r.dead = true;
  }

  /** Advances virtual time. */
  tick(ms: number): void {
    this.now += ms;
  }

  /** Up to `count` addresses to dial now, least-failed first, leaving out those `skip` refuses (banned). */
  candidates(count: number, skip?: (r: PeerRecord) => boolean): PeerRecord[] {
    if (count <= 0) return [];
    // One pass: records bucketed by failures (0 … maxFailures − 1), the buckets read in order.
    const buckets: PeerRecord[][] = [];
    let taken = 0;
    for (const r of this.records.values()) {
      if (r.connected || r.dead || !r.dialable || r.retryAt > this.now) continue;
      if (skip?.(r)) continue;
      const b = (buckets[r.failures] ??= []);
      // A bucket needs no more than `count`; with the lowest one full, nothing else is needed.
      if (b.length < count) b.push(r);
      if (r.failures === 0 && ++taken >= count) break;
    }
    const out: PeerRecord[] = [];
    for (const b of buckets) {
      if (!b) continue;
      for (const r of b) {
        if (out.length >= count) return out;
        out.push(r);
      }
    }
    return out;
  }

  markConnecting(key: string): void {
    const r = this.records.get(key);
    if (r) r.connected = true;
  }

  /** A dial that did not happen after all (the torrent was full): the address is a candidate again. */
  release(key: string): void {
    const r = this.records.get(key);
    if (r) r.connected = false;
  }

  /**
   * Every connection was ended on our side for a reason of ours (a magnet's metadata phase is over): no
   * address counts as connected, and every one not given up on may be dialled again after `delayMs`
   * (time for the other side to see the old connection close: dialled back at once, it may take the
   * new one for a duplicate of the old and refuse it).
   */
  retryAllAfter(delayMs: number): void {
    for (const r of this.records.values()) {
      r.connected = false;
      r.failures = 0;
      r.retryAt = this.now + delayMs;
    }
  }

  /** The connection ended; `useful` when it exchanged data (resets the backoff). */
  markClosed(key: string, outcome: { useful: boolean; retry: boolean }): void {
    const r = this.records.get(key);
    if (!r) return;
    r.connected = false;
    if (!outcome.retry) {
      r.dead = true;
      return;
    }
    r.failures = outcome.useful ? 0 : r.failures + 1;
    if (r.failures >= this.maxFailures) r.dead = true;
    r.retryAt = this.now + Math.min(this.retryBaseMs * 2 ** Math.max(0, r.failures - 1), this.retryMaxMs);
  }

  /** The peer id the connection to `key` gave in its handshake. */
  setPeerId(key: string, peerId: string): void {
    const r = this.records.get(key);
    if (r) r.peerId = peerId;
  }
}
