/**
 * A per-source token bucket for incoming DHT queries: each IP address may send `ratePerSecond` queries a
 * second on average with bursts of `burst`; a query over that is not answered. A global bucket caps the
 * work all sources together can cause. The table of sources is bounded (`maxSources`, least recently seen
 * dropped first — a dropped source comes back with a full bucket, so the global bucket is what bounds a
 * sender that cycles through many addresses).
 *
 * Pure: `now` (ms) on every call, no timers. Owned by the DHT node actor.
 *
 * @example
 * const limiter = new RateLimiter();
 * if (!limiter.allow(from.host, now)) return; // dropped, unanswered
 */
import { normaliseHost } from '../../protocol/peer-address.js';

/** Default average queries a second per IP. */
export const RATE_PER_SECOND = 20;
/** Default burst per IP. */
export const RATE_BURST = 40;
/** Default sources tracked. */
export const MAX_SOURCES = 1_000;
/** Default average queries a second from everyone together. */
export const GLOBAL_RATE_PER_SECOND = 1_000;
/** Default burst from everyone together. */
export const GLOBAL_BURST = 2_000;

export interface RateLimiterOptions {
  ratePerSecond?: number;
  burst?: number;
  maxSources?: number;
  globalRatePerSecond?: number;
  globalBurst?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const positive = (v: number, name: string): number => {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number`);
  return v;
};

/** Refills `b` for the time since its last use (a clock going back refills nothing). */
function refill(b: Bucket, now: number, rate: number, burst: number): void {
  const elapsed = now - b.at;
  if (elapsed > 0) {
    b.tokens = Math.min(burst, b.tokens + (elapsed * rate) / 1000);
    b.at = now;
  }
}

/** See the module comment. */
export class RateLimiter {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly maxSources: number;
  readonly globalRatePerSecond: number;
  readonly globalBurst: number;
  /** Map order is the order of the last query, least recent first. */
  private readonly sources = new Map<string, Bucket>();
  private readonly global: Bucket;

  constructor(options: RateLimiterOptions = {}, now = 0) {
    this.ratePerSecond = positive(options.ratePerSecond ?? RATE_PER_SECOND, 'ratePerSecond');
    this.burst = positive(options.burst ?? RATE_BURST, 'burst');
    this.maxSources = Math.floor(positive(options.maxSources ?? MAX_SOURCES, 'maxSources'));
    if (this.maxSources < 1) throw new RangeError('maxSources must be at least 1');
    this.globalRatePerSecond = positive(options.globalRatePerSecond ?? GLOBAL_RATE_PER_SECOND, 'globalRatePerSecond');
    this.globalBurst = positive(options.globalBurst ?? GLOBAL_BURST, 'globalBurst');
    this.global = { tokens: this.globalBurst, at: now };
  }

  /** Sources tracked. */
  get size(): number {
    return this.sources.size;
  }

  /**
   * Whether a query from `ip` at `now` may be answered; counts it when so. A refused query costs nothing,
   * so a flood does not lock a source out for longer than the flood lasts.
   */
  allow(ip: string, now: number): boolean {
    ip = normaliseHost(ip)?.host ?? ip; // `::ffff:1.2.3.4` is `1.2.3.4`
    refill(this.global, now, this.globalRatePerSecond, this.globalBurst);
    let b = this.sources.get(ip);
    if (b) {
      this.sources.delete(ip); // to the end: seen most recently
      refill(b, now, this.ratePerSecond, this.burst);
    } else {
      if (this.sources.size >= this.maxSources) this.sources.delete(this.sources.keys().next().value!);
      b = { tokens: this.burst, at: now };
    }
    this.sources.set(ip, b);
    if (b.tokens < 1 || this.global.tokens < 1) return false;
    b.tokens -= 1;
    this.global.tokens -= 1;
    return true;
  }
}
