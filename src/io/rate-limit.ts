/**
 * Rate limits (`--limit-down`, `--limit-up`, `Engine.create({ limits })`, `handle.setLimits`): token
 * buckets that shape the peer connections' socket reads and piece writes (src/io/peer-wire.ts).
 *
 * A {@link TokenBucket} is a pure value over time given by its caller: `rate` bytes per second flow
 * in, up to `burst` bytes are held; traffic takes tokens as it happens and may leave the bucket in debt
 * (a socket read cannot be undone), which the refill pays back before more traffic is let through.
 * A {@link RateLimiter} is a bucket on the engine's clock with a queue of connections waiting for
 * tokens and one timer: when the bucket has refilled enough for the first of them, they are woken in
 * order — no polling, no busy loop. Limiters form a chain (a torrent's limiter has the engine's as its
 * parent): traffic is charged to every limiter of the chain and waits while any of them is in debt.
 *
 * Rate 0 means no limit (then nothing is counted and nothing waits).
 *
 * @example
 * const engineDown = new RateLimiter(realClock, 4 * 1024 * 1024); // 4 MiB/s for the whole engine
 * const torrentDown = new RateLimiter(realClock, 0, engineDown); // no limit of its own
 * torrentDown.charge(bytesRead);
 * if (torrentDown.blocked) {
 *   socket.pause();
 *   torrentDown.wait(() => socket.resume(), torrentDown.chunk);
 * }
 */
import type { Clock, TimerId } from './clock.js';

/** Rates in bytes per second; 0 is no limit. */
export interface RateLimits {
  /** Bytes per second read from peers (every byte of their connections). */
  down: number;
  /** Bytes per second of blocks sent to peers (`piece` messages; other messages are never held back). */
  up: number;
}

/** What a full bucket holds: this many seconds of traffic at its rate… */
export const BURST_SECONDS = 0.1;
/** …but at least this much (one 16 KiB block and its header). */
export const MIN_BURST = 16 * 1024 + 13;
/** The most a limited connection reads at once (the shared read buffer's size). */
export const MAX_CHUNK = 256 * 1024;

/** The burst of a bucket of `rate` bytes per second. */
export function burstOf(rate: number): number {
  return Math.max(MIN_BURST, rate * BURST_SECONDS);
}

/** Whether `rate` is a usable limit: a finite number ≥ 0 (0: none). */
export function isRate(rate: unknown): rate is number {
  return typeof rate === 'number' && Number.isFinite(rate) && rate >= 0;
}

/**
 * A token bucket: `rate` bytes per second refill it, up to `burst`; `take` may leave it in debt. Time
 * comes from the caller (milliseconds, any epoch); a clock that steps back refills nothing.
 *
 * Over any span of `T` ms in which traffic is taken only while the bucket is not in debt, what is taken
 * is at most `burst + rate × T / 1000` plus the last take (test/property/rate-limit.property.test.ts).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private r: number;
  private b: number;

  constructor(rate: number, now: number) {
    this.r = rate;
    this.b = burstOf(rate);
    this.tokens = this.b;
    this.last = now;
  }

  /** Bytes per second (0: no limit). */
  get rate(): number {
    return this.r;
  }

  /** What a full bucket holds. */
  get burst(): number {
    return this.b;
  }

  get limited(): boolean {
    return this.r > 0;
  }

  private refill(now: number): void {
    const dt = now - this.last;
    if (dt > 0 && this.tokens < this.b) this.tokens = Math.min(this.b, this.tokens + (dt * this.r) / 1000);
    this.last = now;
  }

  /** Tokens at `now`; negative: in debt. A bucket without limit is always full. */
  tokensAt(now: number): number {
    if (!this.limited) return this.b;
    this.refill(now);
    return this.tokens;
  }

  /** Takes `n` bytes' tokens at `now` (nothing without a limit). */
  take(n: number, now: number): void {
    if (!this.limited) return;
    this.refill(now);
    this.tokens -= n;
  }

  /** Milliseconds from `now` until the bucket holds `need` tokens (at most `burst`); 0 when it does. */
  waitMs(now: number, need = 0): number {
    if (!this.limited) return 0;
    const target = Math.min(need, this.b);
    const t = this.tokensAt(now);
    return t >= target ? 0 : ((target - t) * 1000) / this.r;
  }

  /**
   * A new rate from `now` on: a debt stays to be paid at the new rate, saved tokens are cut to the new
   * burst; a bucket that had no limit starts full.
   */
  setRate(rate: number, now: number): void {
    const wasLimited = this.limited;
    this.refill(now);
    this.r = rate;
    this.b = burstOf(rate);
    this.tokens = wasLimited ? Math.min(this.tokens, this.b) : this.b;
  }
}

interface Waiter {
  fn: () => void;
  want: number;
}

/**
 * A {@link TokenBucket} on a clock, with the connections waiting for it; one of a chain (its `parent`,
 * the engine's limiter for a torrent's). Not shared between machines: only src/io's wire bridges use it.
 */
export class RateLimiter {
  private readonly bucket: TokenBucket;
  private readonly queue: Waiter[] = [];
  private timer: TimerId | undefined;
  /** This limiter and those above it, in order. */
  private readonly chain: readonly RateLimiter[];

  constructor(
    private readonly clock: Clock,
    rate = 0,
    readonly parent?: RateLimiter,
  ) {
    this.bucket = new TokenBucket(rate, clock.now());
    this.chain = [this, ...(parent?.chain ?? [])];
  }

  /** Bytes per second of this limiter alone (0: none). */
  get rate(): number {
    return this.bucket.rate;
  }

  /** Sets this limiter's rate (0: none); waiting connections are woken or rescheduled to match. */
  setRate(rate: number): void {
    if (!isRate(rate)) throw new RangeError(`a rate is a finite number of bytes per second ≥ 0, not ${String(rate)}`);
    this.bucket.setRate(rate, this.clock.now());
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.bucket.limited) this.schedule();
    else this.wake(Infinity);
  }

  /** Whether this limiter or one above it is limited (else charging and waiting are moot). */
  get limited(): boolean {
    for (const l of this.chain) if (l.bucket.limited) return true;
    return false;
  }

  /** Counts `n` bytes of traffic against this limiter and those above it. */
  charge(n: number): void {
    const now = this.clock.now();
    for (const l of this.chain) l.bucket.take(n, now);
  }

  /** The first limiter of the chain in debt now, if any. */
  private blocker(): RateLimiter | undefined {
    const now = this.clock.now();
    for (const l of this.chain) if (l.bucket.tokensAt(now) < 0) return l;
    return undefined;
  }

  /** Whether traffic must wait now: a limiter of the chain is in debt. */
  get blocked(): boolean {
    return this.blocker() !== undefined;
  }

  /**
   * The most a connection should take at once under this chain: the smallest burst of its limited
   * limiters, at most {@link MAX_CHUNK} (MAX_CHUNK when none is limited).
   */
  get chunk(): number {
    let c = MAX_CHUNK;
    for (const l of this.chain) if (l.bucket.limited) c = Math.min(c, Math.floor(l.bucket.burst));
    return c;
  }

  /**
   * Calls `fn` once no limiter of the chain is in debt and the one that was holds `want` tokens (at most
   * its burst) — at once, synchronously, when none is in debt now. Waiters are woken in the order they
   * came. Returns the cancel.
   */
  wait(fn: () => void, want = 0): () => void {
    let done = false;
    let cancel: () => void = () => undefined;
    const attempt = () => {
      if (done) return;
      const b = this.blocker();
      if (!b) {
        done = true;
        fn();
        return;
      }
      cancel = b.enqueue(attempt, want);
    };
    attempt();
    return () => {
      done = true;
      cancel();
    };
  }

  /** Connections waiting on this limiter itself. */
  get waiting(): number {
    return this.queue.length;
  }

  private enqueue(fn: () => void, want: number): () => void {
    const w: Waiter = { fn, want };
    this.queue.push(w);
    this.schedule();
    return () => {
      const i = this.queue.indexOf(w);
      if (i < 0) return;
      this.queue.splice(i, 1);
      if (this.queue.length === 0) {
        this.clock.clearTimeout(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** The one timer: set for when the first waiter's tokens are there. */
  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    const ms = this.bucket.waitMs(this.clock.now(), this.queue[0]!.want);
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.wake(this.bucket.tokensAt(this.clock.now()));
      },
      Math.max(1, Math.ceil(ms)),
    );
  }

  /** Wakes waiters in order while `budget` covers what they want (the first one at least when it can); reschedules the rest. */
  private wake(budget: number): void {
    const ready: Waiter[] = [];
    while (this.queue.length > 0) {
      const need = Math.min(this.queue[0]!.want, this.bucket.burst);
      if (budget < need || budget < 0) break;
      budget -= need;
      ready.push(this.queue.shift()!);
    }
    this.schedule();
    for (const w of ready) w.fn();
  }
}

/** The limiters of one torrent's connections (each with the engine's of its direction as parent). */
export interface WireShaping {
  down: RateLimiter;
  up: RateLimiter;
}
