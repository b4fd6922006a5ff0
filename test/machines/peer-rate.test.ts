/**
 * Transfer rates as immutable windows and the request queue depth a rate earns
 * (src/machines/peer/rate.ts). The depth and window examples come from the RateMeter tests this
 * module replaced (formerly in piece-picker.test.ts).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { addBytes, rateOf, rateWindow, requestQueueDepth, type RateWindow } from '../../src/machines/peer/rate.js';
import { propertyOptions } from '../support/fc.js';

const KiB = 1024;

describe('requestQueueDepth', () => {
  it('covers three seconds of the rate and is clamped', () => {
    expect(requestQueueDepth(0)).toBe(4);
    expect(requestQueueDepth(Number.NaN)).toBe(4);
    expect(requestQueueDepth(-5)).toBe(4);
    expect(requestQueueDepth(10 * KiB)).toBe(4);
    expect(requestQueueDepth(100 * KiB)).toBe(19); // ceil(300 KiB / 16 KiB)
    expect(requestQueueDepth(1024 * KiB)).toBe(192);
    expect(requestQueueDepth(100 * 1024 * KiB)).toBe(500);
    expect(requestQueueDepth(Number.POSITIVE_INFINITY)).toBe(4);
    expect(requestQueueDepth(1024 * KiB, { seconds: 1, max: 50, min: 2 })).toBe(50);
    expect(requestQueueDepth(1, { min: 2 })).toBe(2);
    // Monotone in the rate.
    let last = 0;
    for (let rate = 0; rate < 50 * 1024 * KiB; rate += 97 * KiB) {
      const d = requestQueueDepth(rate);
      expect(d).toBeGreaterThanOrEqual(last);
      last = d;
    }
  });

  it('honours blockLength, and lets min win over a smaller max', () => {
    expect(requestQueueDepth(1024 * KiB, { blockLength: 64 * KiB })).toBe(48);
    expect(requestQueueDepth(1024 * KiB, { min: 300, max: 100 })).toBe(300);
    expect(requestQueueDepth(0, { min: 300, max: 100 })).toBe(300);
  });
});

describe('rateWindow, addBytes, rateOf', () => {
  it('measures over a sliding window', () => {
    let w = rateWindow({ windowMs: 5000, bucketMs: 1000 });
    expect(rateOf(w, 0)).toBe(0);
    // 100 KiB/s for 10 s, in 100 ms steps.
    for (let t = 0; t < 10_000; t += 100) w = addBytes(w, 10 * KiB, t);
    expect(rateOf(w, 10_000)).toBeCloseTo(100 * KiB, -3);
    expect(w.total).toBe(1000 * KiB);
    // Silence: the window slides past the samples.
    expect(rateOf(w, 12_000)).toBeCloseTo(50 * KiB, -3);
    expect(rateOf(w, 16_000)).toBe(0);
    // Time never runs backwards: an earlier time reads as the latest sample's. (Unlike RateMeter,
    // reading a rate does not move the window's clock: only addBytes does.)
    expect(rateOf(w, 1_000)).toBe(rateOf(w, 9_900));
    expect(rateOf(w, 9_900)).toBeCloseTo((500 * KiB) / 4.9, 6); // 5 buckets over 4.9 s
  });

  it('does not under-report while younger than the window, nor blow up on the first sample', () => {
    let w = rateWindow();
    w = addBytes(w, 50 * KiB, 1_000);
    expect(rateOf(w, 1_000)).toBe(50 * KiB); // at least one bucket of time
    w = addBytes(w, 50 * KiB, 1_500);
    w = addBytes(w, 50 * KiB, 2_000);
    expect(rateOf(w, 3_000)).toBeCloseTo(75 * KiB, 0); // 150 KiB over the 2 s since the first sample
  });

  it('counts bytes at an earlier time as at the latest one', () => {
    let w = addBytes(rateWindow(), 1000, 10_000);
    w = addBytes(w, 500, 2_000);
    expect(w.latestMs).toBe(10_000);
    expect(w.startMs).toBe(10_000);
    expect(w.total).toBe(1500);
    expect(rateOf(w, 10_000)).toBe(1500); // both in the current bucket, over one bucket of time
  });

  it('rounds the window up to whole buckets and refuses non-positive sizes', () => {
    expect(rateWindow().slots).toHaveLength(5);
    expect(rateWindow({ windowMs: 2500, bucketMs: 1000 }).slots).toHaveLength(3);
    expect(rateWindow({ windowMs: 1, bucketMs: 1000 }).slots).toHaveLength(1);
    const w = rateWindow({ windowMs: 400, bucketMs: 100 });
    expect(w).toEqual({
      bucketMs: 100,
      slots: [-1, -1, -1, -1],
      bytes: [0, 0, 0, 0],
      startMs: Number.NaN,
      latestMs: Number.NEGATIVE_INFINITY,
      total: 0,
    });
    for (const bad of [{ bucketMs: 0 }, { windowMs: -1 }, { bucketMs: Number.NaN }, { windowMs: Number.NaN }]) {
      expect(() => rateWindow(bad)).toThrow(RangeError);
    }
  });

  it('handles times before zero', () => {
    const w = addBytes(rateWindow(), 1000, -1_500);
    expect(rateOf(w, -1_500)).toBe(1000);
    expect(rateOf(w, 4_000)).toBe(0);
  });

  /** The window with its arrays frozen too, so any write throws (modules are strict). */
  function deepFreeze(w: RateWindow): RateWindow {
    Object.freeze(w.slots);
    Object.freeze(w.bytes);
    return Object.freeze(w);
  }

  const sampleArb = fc.record({
    bytes: fc.integer({ min: 0, max: 1 << 20 }),
    at: fc.integer({ min: -5_000, max: 60_000 }),
  });
  /** 1 to 12 buckets of 1 ms to 3 s; a window that is not a whole number of buckets, now and then. */
  const optionsArb = fc
    .record({ bucketMs: fc.integer({ min: 1, max: 3_000 }), buckets: fc.integer({ min: 1, max: 12 }), part: fc.nat() })
    .map(({ bucketMs, buckets, part }) => ({ bucketMs, windowMs: (buckets - 1) * bucketMs + 1 + (part % bucketMs) }));

  it('addBytes never mutates its input window (property)', () => {
    fc.assert(
      fc.property(optionsArb, fc.array(sampleArb, { maxLength: 30 }), (options, samples) => {
        let w = deepFreeze(rateWindow(options));
        for (const s of samples) {
          const before = JSON.stringify(w);
          const next = addBytes(w, s.bytes, s.at); // throws on a write to the frozen input
          if (JSON.stringify(w) !== before) expect(JSON.stringify(w)).toBe(before);
          const shared = [next === w, next.slots === w.slots, next.bytes === w.bytes];
          if (shared.some(Boolean)) expect(shared).toEqual([false, false, false]);
          w = deepFreeze(next);
        }
      }),
      propertyOptions,
    );
  });

  it('keeps the total, never reads a negative rate, and forgets a sample a window later (property)', () => {
    fc.assert(
      fc.property(
        optionsArb,
        fc.array(sampleArb, { minLength: 1, maxLength: 30 }),
        fc.nat(20_000),
        (o, samples, dt) => {
          let w = rateWindow(o);
          let total = 0;
          let latest = Number.NEGATIVE_INFINITY;
          for (const s of samples) {
            w = addBytes(w, s.bytes, s.at);
            total += s.bytes;
            latest = Math.max(latest, s.at);
          }
          expect(w.total).toBe(total);
          expect(w.latestMs).toBe(latest);
          expect(w.startMs).toBe(samples[0]!.at);
          const r = rateOf(w, latest + dt);
          expect(r).toBeGreaterThanOrEqual(0);
          // Never more than every byte counted over one bucket.
          expect(r).toBeLessThanOrEqual((total * 1000) / w.bucketMs);
          // Reading at or before the latest sample reads as at the latest sample.
          expect(rateOf(w, latest - dt)).toBe(rateOf(w, latest));
          // A full window after the latest sample's bucket, nothing is left.
          const gone = (Math.floor(latest / w.bucketMs) + w.slots.length) * w.bucketMs;
          expect(rateOf(w, gone + dt)).toBe(0);
        },
      ),
      propertyOptions,
    );
  });
});
