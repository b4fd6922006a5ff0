/** Liveness of a peer connection (src/machines/peer/liveness.ts): silent, starved or alive at each check. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  check,
  freshLiveness,
  heard,
  type LivenessSettings,
  type LivenessState,
} from '../../src/machines/peer/liveness.js';
import { propertyOptions } from '../support/fc.js';

const settings: LivenessSettings = { silenceLimitMs: 120_000, snubTimeoutMs: 60_000, keepAliveIntervalMs: 100_000 };
const STEP = 30_000;

/** Runs `n` checks of STEP ms with nothing heard. */
function quiet(l: LivenessState, n: number, waiting: boolean): ReturnType<typeof check> {
  let c = check(l, STEP, waiting, settings);
  for (let i = 1; i < n; i++) c = check(c.liveness, STEP, waiting, settings);
  return c;
}

describe('heard', () => {
  it('counts messages and the blocks among them, without touching the input', () => {
    const l1 = heard(freshLiveness);
    const l2 = heard(l1, 3);
    const l3 = heard(l2, 0);
    expect(l1).toEqual({ messages: 1, blocks: 0, silentMs: 0, starvedMs: 0, keepAliveMs: 0 });
    expect(l2).toEqual({ messages: 2, blocks: 3, silentMs: 0, starvedMs: 0, keepAliveMs: 0 });
    expect(l3).toEqual({ messages: 3, blocks: 3, silentMs: 0, starvedMs: 0, keepAliveMs: 0 });
    expect(freshLiveness).toEqual({ messages: 0, blocks: 0, silentMs: 0, starvedMs: 0, keepAliveMs: 0 });
  });

  it('keeps the silence and starvation counted so far (only a check resets them)', () => {
    const l = heard({ messages: 0, blocks: 0, silentMs: 90_000, starvedMs: 45_000, keepAliveMs: 7 }, 1);
    expect(l).toEqual({ messages: 1, blocks: 1, silentMs: 90_000, starvedMs: 45_000, keepAliveMs: 7 });
  });
});

describe('check', () => {
  it('is alive while the peer talks, and resets the counts since the last check', () => {
    const c = check(heard(heard(freshLiveness), 2), STEP, true, settings);
    expect(c).toMatchObject({
      liveness: { messages: 0, blocks: 0, silentMs: 0, starvedMs: 0 },
      verdict: 'alive',
      deliveredSinceCheck: true,
    });
  });

  it('calls a peer silent once nothing came for silenceLimitMs', () => {
    expect(quiet(freshLiveness, 3, false)).toMatchObject({
      liveness: { messages: 0, blocks: 0, silentMs: 90_000, starvedMs: 0 },
      verdict: 'alive',
      deliveredSinceCheck: false,
    });
    const c = quiet(freshLiveness, 4, false);
    expect(c.verdict).toBe('silent');
    expect(c.liveness.silentMs).toBe(120_000);
    // Still silent at the next check, unless it speaks.
    expect(check(c.liveness, STEP, false, settings).verdict).toBe('silent');
    expect(check(heard(c.liveness), STEP, false, settings)).toMatchObject({
      liveness: { messages: 0, blocks: 0, silentMs: 0, starvedMs: 0 },
      verdict: 'alive',
      deliveredSinceCheck: false,
    });
  });

  it('calls a peer starved when it holds our requests and sends no block for snubTimeoutMs', () => {
    let l = freshLiveness;
    let c = check(heard(l), STEP, true, settings);
    expect(c.verdict).toBe('alive');
    expect(c.liveness.starvedMs).toBe(STEP);
    l = c.liveness;
    c = check(heard(l), STEP, true, settings); // it talks (keep-alives, haves) but sends no block
    expect(c.verdict).toBe('starved');
    expect(c.liveness).toMatchObject({ messages: 0, blocks: 0, silentMs: 0, starvedMs: 60_000 });
    // A block ends the starvation.
    c = check(heard(c.liveness, 1), STEP, true, settings);
    expect(c.verdict).toBe('alive');
    expect(c.liveness.starvedMs).toBe(0);
    expect(c.deliveredSinceCheck).toBe(true);
  });

  it('counts no starvation while nothing is requested', () => {
    let l: LivenessState = { messages: 1, blocks: 0, silentMs: 0, starvedMs: 50_000, keepAliveMs: 0 };
    const c = check(l, STEP, false, settings);
    expect(c.liveness.starvedMs).toBe(0);
    expect(c.verdict).toBe('alive');
    l = c.liveness;
    expect(check(heard(l), STEP, true, settings).liveness.starvedMs).toBe(STEP); // counting starts again
  });

  it('asks for a keep-alive every keepAliveIntervalMs, whatever the peer does', () => {
    let l = freshLiveness;
    const due: boolean[] = [];
    for (let i = 0; i < 8; i++) {
      const c = check(heard(l), 25_000, false, settings);
      due.push(c.keepAlive);
      l = c.liveness;
    }
    // 100 s at 25 s a check: the 4th and the 8th.
    expect(due).toEqual([false, false, false, true, false, false, false, true]);
  });

  it('prefers silent to starved', () => {
    const c = quiet(freshLiveness, 4, true);
    expect(c.liveness).toMatchObject({ messages: 0, blocks: 0, silentMs: 120_000, starvedMs: 120_000 });
    expect(c.verdict).toBe('silent');
    const s = check(freshLiveness, 60_000, true, settings);
    expect(s.verdict).toBe('starved');
  });

  it('reaches each verdict at the limit itself (>=)', () => {
    expect(check(freshLiveness, 119_999, false, settings).verdict).toBe('alive');
    expect(check(freshLiveness, 120_000, false, settings).verdict).toBe('silent');
    expect(check(heard(freshLiveness), 59_999, true, settings).verdict).toBe('alive');
    expect(check(heard(freshLiveness), 60_000, true, settings).verdict).toBe('starved');
  });

  it('follows the counters through any sequence of messages and checks (property)', () => {
    const stepArb = fc.record({
      messages: fc.nat({ max: 3 }),
      blocks: fc.nat({ max: 3 }),
      dt: fc.integer({ min: 1, max: 40_000 }),
      waiting: fc.boolean(),
    });
    const settingsArb = fc.record({
      silenceLimitMs: fc.integer({ min: 1, max: 200_000 }),
      snubTimeoutMs: fc.integer({ min: 1, max: 200_000 }),
      keepAliveIntervalMs: fc.integer({ min: 1, max: 200_000 }),
    });
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 30 }), settingsArb, (steps, s) => {
        let l = freshLiveness;
        let silent = 0;
        let starved = 0;
        let sinceKeepAlive = 0;
        for (const step of steps) {
          // `blocks` messages carry a block each, `messages` more carry none.
          for (let i = 0; i < step.blocks; i++) l = heard(l, 1);
          for (let i = 0; i < step.messages; i++) l = heard(l);
          const c = check(l, step.dt, step.waiting, s);
          silent = step.messages + step.blocks > 0 ? 0 : silent + step.dt;
          starved = step.blocks > 0 || !step.waiting ? 0 : starved + step.dt;
          const verdict = silent >= s.silenceLimitMs ? 'silent' : starved >= s.snubTimeoutMs ? 'starved' : 'alive';
          const keepAlive = sinceKeepAlive + step.dt >= s.keepAliveIntervalMs;
          sinceKeepAlive = keepAlive ? 0 : sinceKeepAlive + step.dt;
          expect(c).toEqual({
            keepAlive,
            liveness: { messages: 0, blocks: 0, silentMs: silent, starvedMs: starved, keepAliveMs: sinceKeepAlive },
            verdict,
            deliveredSinceCheck: step.blocks > 0,
          });
          l = c.liveness;
        }
      }),
      propertyOptions,
    );
  });
});
