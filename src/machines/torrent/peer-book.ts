/**
 * The addresses a torrent knows (from trackers, `--peer`, incoming connections), which of them are
 * connected, and when the others may be tried again. Pure: time advances only through `tick`, which
 * the torrent statechart calls from a timer on the actor system's clock.
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
}

export interface PeerBookOptions {
  /** First reconnect delay; doubles per consecutive failure. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Give up on an address after this many consecutive failures. */
  maxFailures?: number;
}

export class PeerBook {
  private readonly records = new Map<string, PeerRecord>();
  private now = 0;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly maxFailures: number;

  constructor(options: PeerBookOptions = {}) {
    this.retryBaseMs = options.retryBaseMs ?? 5_000;
    this.retryMaxMs = options.retryMaxMs ?? 5 * 60_000;
    this.maxFailures = options.maxFailures ?? 8;
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
    let r = this.records.get(key);
    if (!r) {
      r = { key, address, failures: 0, retryAt: 0, connected: false, peerId: undefined, dead: false, dialable };
      this.records.set(key, r);
    } else if (dialable) r.dialable = true;
    return r;
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
    const out: PeerRecord[] = [];
    for (const r of this.records.values()) {
      if (r.connected || r.dead || !r.dialable || r.retryAt > this.now) continue;
      if (skip?.(r)) continue;
      out.push(r);
    }
    out.sort((a, b) => a.failures - b.failures);
    return out.slice(0, count);
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
