/**
 * The token bucket and the rate limiter of src/io/rate-limit.ts: traffic let through never exceeds
 * `burst + rate × time` (plus the last take, which may leave the bucket in debt), and a consumer that
 * takes whenever it is let through gets the whole rate — the limiter's one timer wakes it in time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { burstOf, MIN_BURST, RateLimiter, TokenBucket } from '../../src/io/rate-limit.js';
import { propertyOptions } from '../support/fc.js';
import { ManualClock } from '../support/manual-clock.js';

function ok(cond: boolean, message: string, detail: unknown): void {
  if (!cond) throw new Error(`${message}: ${JSON.stringify(detail)}`);
}

const rate = fc.integer({ min: 1024, max: 100 * 1024 * 1024 });

describe('TokenBucket', () => {
  it('lets through at most burst + rate × time, plus the last take', () => {
    fc.assert(
      fc.property(
        rate,
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3000 }), n: fc.integer({ min: 1, max: 512 * 1024 }) }), {
          maxLength: 60,
        }),
        (r, steps) => {
          const b = new TokenBucket(r, 0);
          let now = 0;
          let total = 0;
          for (const { dt, n } of steps) {
            now += dt;
            if (b.tokensAt(now) < 0) continue; // in debt: traffic waits
            b.take(n, now);
            total += n;
            const bound = burstOf(r) + (r * now) / 1000 + n;
            ok(total <= bound * (1 + 1e-9), 'over the bound', { r, now, total, bound });
          }
        },
      ),
      propertyOptions,
    );
  });

  it('a consumer taking as soon as it may gets the rate: burst + rate × time within one take', () => {
    fc.assert(
      fc.property(
        rate,
        fc.integer({ min: 1, max: 256 * 1024 }),
        fc.integer({ min: 100, max: 60_000 }),
        (r, chunkRaw, horizon) => {
          // At most 20,000 takes per case.
          const chunk = Math.max(chunkRaw, Math.ceil((r * horizon) / 1000 / 20_000));
          const b = new TokenBucket(r, 0);
          let now = 0;
          let total = 0;
          for (;;) {
            const next = now + b.waitMs(now, chunk);
            if (next > horizon) break;
            now = next;
            b.take(chunk, now);
            total += chunk;
          }
          const ideal = burstOf(r) + (r * horizon) / 1000;
          ok(Math.abs(total - ideal) <= 2 * chunk + 1e-6 * ideal, 'not the rate', { r, chunk, horizon, total, ideal });
        },
      ),
      { numRuns: Math.max(1000, Math.floor(propertyOptions.numRuns / 10)) },
    );
  });

  it('a new rate applies from then on; lifting the limit fills the bucket', () => {
    const b = new TokenBucket(1000 * 1024, 0);
    b.take(1_000_000, 0);
    expect(b.waitMs(0)).toBeCloseTo(((1_000_000 - burstOf(1000 * 1024)) * 1000) / (1000 * 1024), 3);
    b.setRate(2000 * 1024, 0);
    expect(b.waitMs(0)).toBeCloseTo(((1_000_000 - burstOf(1000 * 1024)) * 1000) / (2000 * 1024), 3);
    b.setRate(0, 0);
    expect(b.waitMs(0)).toBe(0);
    expect(b.tokensAt(0)).toBe(MIN_BURST);
    b.take(10 ** 9, 0); // no limit: nothing counted
    b.setRate(4096, 1);
    expect(b.tokensAt(1)).toBe(MIN_BURST);
  });

  it('a clock stepping back refills nothing (and does not stall it)', () => {
    const b = new TokenBucket(10_000, 1_000_000);
    b.take(MIN_BURST + 10_000, 1_000_000); // one second of debt
    expect(b.tokensAt(500_000)).toBeCloseTo(-10_000);
    expect(b.tokensAt(501_000)).toBeCloseTo(0);
  });
});

describe('RateLimiter', () => {
  /**
   * `k` connections on a chain (a torrent limiter under an engine limiter), each taking one `chunk`
   * when woken and again at once while not blocked, as the wire bridge reads.
   */
  function run(engineRate: number, torrentRate: number, k: number, chunk: number, horizon: number) {
    const clock = new ManualClock();
    const engine = new RateLimiter(clock, engineRate);
    const torrent = new RateLimiter(clock, torrentRate, engine);
    let total = 0;
    let maxWaiting = 0;
    const consumers = Array.from({ length: k }, () => {
      const go = () => {
        for (let i = 0; i < 1000 && !torrent.blocked; i++) {
          torrent.charge(chunk);
          total += chunk;
        }
        torrent.wait(go, chunk);
        maxWaiting = Math.max(maxWaiting, engine.waiting + torrent.waiting);
      };
      return go;
    });
    for (const c of consumers) c();
    clock.advanceTo(horizon);
    return { total, clock, maxWaiting };
  }

  it('connections sharing a chain get the tightest rate, within a few percent, by timers alone', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16 * 1024, max: 8 * 1024 * 1024 }),
        fc.integer({ min: 16 * 1024, max: 8 * 1024 * 1024 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1024, max: 64 * 1024 }),
        (a, b, torrentLimited, k, chunk) => {
          const horizon = 20_000;
          const tight = torrentLimited ? Math.min(a, b) : a;
          const { total, clock, maxWaiting } = run(a, torrentLimited ? b : 0, k, chunk, horizon);
          const ideal = (tight * horizon) / 1000;
          ok(total <= ideal + burstOf(tight) + k * chunk, 'over the limit', { a, b, k, chunk, total, ideal });
          ok(total >= ideal * 0.97 - k * chunk, 'under the limit', { a, b, k, chunk, total, ideal });
          ok(clock.pending <= 2, 'more than one timer per limiter', { pending: clock.pending });
          ok(maxWaiting <= k, 'a connection waits twice', { maxWaiting, k });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('changing the rate while connections wait applies at once; lifting it wakes them', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(clock, 100 * 1024);
    let woken = 0;
    limiter.charge(MIN_BURST + 100 * 1024); // one second of debt
    expect(limiter.blocked).toBe(true);
    limiter.wait(() => woken++, 16 * 1024);
    clock.advanceTo(500);
    expect(woken).toBe(0);
    limiter.setRate(0);
    expect(woken).toBe(1);
    expect(limiter.blocked).toBe(false);
    expect(clock.pending).toBe(0);
    // Raised: the wait shortens.
    limiter.setRate(10 * 1024);
    limiter.charge(MIN_BURST + 10 * 1024 * 10); // ten seconds of debt at 10 KiB/s
    limiter.wait(() => woken++);
    limiter.setRate(1024 * 1024);
    clock.advanceTo(600);
    expect(woken).toBe(2);
  });

  it('a cancelled wait is never called and leaves no timer', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(clock, 64 * 1024);
    limiter.charge(10 * MIN_BURST);
    let called = false;
    const cancel = limiter.wait(() => (called = true));
    expect(clock.pending).toBe(1);
    cancel();
    expect(clock.pending).toBe(0);
    clock.advanceTo(60_000);
    expect(called).toBe(false);
  });

  it('refuses a rate that is not a finite number ≥ 0', () => {
    const limiter = new RateLimiter(new ManualClock());
    for (const bad of [-1, Number.NaN, Infinity]) expect(() => limiter.setRate(bad)).toThrow(RangeError);
  });
});
