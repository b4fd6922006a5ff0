/**
 * The announcer and its trackers, model-based: fast-check generates sequences of what the torrent
 * says (start, completed, stats, re-announce, stop), how trackers answer (peers, warnings, failures,
 * BEP 31 "never", silence) and time passing, replayed on a live announcer whose announces go through a
 * scripted transport on a simulated clock. After every step the named invariants are checked.
 *
 * Invariants:
 * - one-tracker-at-a-time (BEP 12): at most one tracker announces at a time, and it is the current one;
 * - tier-order (BEP 12): announces go to the first tracker of the first tier at start, to the next
 *   in order after a failure (wrapping round), and a tracker that answers moves to the front of its
 *   tier — checked against a model of the tiers kept by the test;
 * - never-means-never (BEP 31): a tracker that answered "retry in: never" is not contacted again (but
 *   for `stopped`, if it got `started`);
 * - always-announcing: while running, the current tracker is announcing, waiting or backing off —
 *   unless every tracker said "never";
 * - peers-once: no address is reported twice;
 * - stopped-to-every-started: once stopped, every tracker that answered a `started` announce has been
 *   sent `stopped`; no tracker that never got `started` is sent one;
 * - stop-is-bounded: a stop ends within twice the trackers' stopTimeoutMs (a pending `completed`, then
 *   `stopped`, each within it), whatever they answer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { announcerMachine, type AnnouncerReport } from '../../src/machines/tracker/announcer.machine.js';
import { trackerMachine } from '../../src/machines/tracker/tracker.machine.js';
import { propertyOptions } from '../support/fc.js';
import { failure, flush, ok, scriptedTransport, SimulatedClock } from './tracker-harness.js';

const TIERS = [['a1', 'a2'], ['b1']];
const settings = { backoffBaseMs: 15_000, backoffMaxMs: 60_000, minAnnounceIntervalMs: 30_000, stopTimeoutMs: 5_000 };
const POOL = Array.from({ length: 5 }, (_, i) => ({ host: `10.0.0.${i + 1}`, port: 6881, family: 4 as const }));

const step = fc.oneof(
  fc.constantFrom({ t: 'start' } as const, { t: 'completed' } as const, { t: 'reannounce' } as const),
  fc.record({ t: fc.constant('stats' as const), left: fc.nat(1000) }),
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('answer' as const),
      how: fc.constantFrom('ok', 'ok', 'ok', 'warning', 'fail', 'fail', 'never'),
      peers: fc.subarray(POOL),
      interval: fc.constantFrom(30, 60, 600),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('advance' as const),
      ms: fc.constantFrom(1_000, 15_000, 30_000, 60_000, 600_000),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'stop' } as const) },
);
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

async function run(steps: Step[]): Promise<void> {
  const violations: string[] = [];
  const fail = (name: string, detail: string) => violations.push(`${name}: ${detail}`);
  const clock = new SimulatedClock();
  const { calls, logic } = scriptedTransport();
  const machine = announcerMachine.provide({
    actors: { tracker: trackerMachine.provide({ actors: { announce: logic } }) },
  });
  const actor = createActor(machine, {
    clock,
    input: { tiers: TIERS, stats: { uploaded: 0, downloaded: 0, left: 10 }, settings },
  });
  const reports: AnnouncerReport[] = [];
  actor.on('announcer.peers', (e) => reports.push(e));
  actor.on('announcer.tracker', (e) => reports.push(e));
  actor.start();
  const seenCalls = { n: 0 };
  const answered = new Set<number>();
  const started = new Set<string>();
  const never = new Set<string>();
  let stopAt: number | undefined;
  // The test's own model of BEP 12: the tiers in their order, and the tracker in use.
  const tiers = TIERS.map((t) => [...t]);
  const flat = () => tiers.flat();
  let current = flat()[0]!;
  const nextAfter = (url: string) => {
    const urls = flat();
    for (let n = 1; n <= urls.length; n++) {
      const u = urls[(urls.indexOf(url) + n) % urls.length]!;
      if (!never.has(u)) return u;
    }
    return undefined;
  };

  const pending = () => calls.map((c, i) => ({ c, i })).filter(({ c, i }) => !answered.has(i) && !c.aborted);
  try {
    for (const s of steps) {
      if (actor.getSnapshot().status !== 'active') break;
      switch (s.t) {
        case 'start':
          actor.send({ type: 'announcer.start' });
          break;
        case 'completed':
          actor.send({ type: 'announcer.completed' });
          break;
        case 'reannounce':
          actor.send({ type: 'announcer.reannounce' });
          break;
        case 'stats':
          actor.send({ type: 'announcer.stats', stats: { uploaded: 0, downloaded: 0, left: s.left } });
          break;
        case 'stop':
          actor.send({ type: 'announcer.stop' });
          stopAt ??= clock.now();
          break;
        case 'advance':
          clock.increment(s.ms);
          break;
        case 'answer': {
          const p = pending()[0];
          if (!p) break;
          answered.add(p.i);
          const url = p.c.input.url;
          const stopping = p.c.input.event === 'stopped';
          if (s.how === 'fail' || s.how === 'never') {
            if (s.how === 'never' && !stopping) never.add(url);
            p.c.reject(s.how === 'never' ? failure('BT_ERR_TRACKER_FAILURE', { never: true }) : failure());
            if (!stopping && url === current) current = nextAfter(url) ?? current;
          } else {
            if (p.c.input.event === 'started') started.add(url);
            p.c.resolve(
              ok({ interval: s.interval, peers: s.peers, ...(s.how === 'warning' && { warning: 'be nice' }) }),
            );
            if (!stopping) {
              const tier = tiers.find((t) => t.includes(url))!;
              tier.splice(tier.indexOf(url), 1);
              tier.unshift(url);
            }
          }
          break;
        }
      }
      await flush();
      const snap = actor.getSnapshot();
      // New announces go to the current tracker (stops go to every started one).
      for (const c of calls.slice(seenCalls.n)) {
        if (c.input.event === 'stopped') {
          if (!started.has(c.input.url)) fail('stopped-to-every-started', `stopped to ${c.input.url}, never started`);
        } else {
          if (never.has(c.input.url)) fail('never-means-never', `announce to ${c.input.url}`);
          if (c.input.url !== current) fail('tier-order', `announce to ${c.input.url}, expected ${current}`);
        }
      }
      seenCalls.n = calls.length;
      if (snap.status === 'active' && snap.value !== 'stopping') {
        const announcing = pending().filter(({ c }) => c.input.event !== 'stopped');
        if (announcing.length > 1) fail('one-tracker-at-a-time', `${announcing.length} announces under way`);
        const active = Object.values(snap.context.trackers).filter((t) => {
          const v = t.getSnapshot().value;
          return typeof v === 'object' && v !== null && 'active' in v;
        });
        if (active.length > 1) fail('one-tracker-at-a-time', `${active.length} trackers active`);
        if (snap.value === 'running' && never.size < flat().length) {
          const v =
            snap.context.current !== undefined
              ? snap.context.trackers[snap.context.current]?.getSnapshot().value
              : undefined;
          if (typeof v !== 'object' || v === null || !('active' in v))
            fail('always-announcing', `current ${snap.context.current} is ${JSON.stringify(v)}`);
        }
      }
      const all = reports
        .filter((r) => r.type === 'announcer.peers')
        .flatMap((r) => r.peers.map((x) => `${x.host}:${x.port}`));
      if (new Set(all).size !== all.length) fail('peers-once', all.join(' '));
      if (violations.length > 0) break;
    }
    // Whatever happened, a stop ends it within twice the trackers' stop timeout.
    if (actor.getSnapshot().status === 'active') {
      actor.send({ type: 'announcer.stop' });
      stopAt ??= clock.now();
      await flush();
      for (let i = 0; i < 2; i++) {
        clock.increment(settings.stopTimeoutMs);
        await flush();
      }
    }
    if (actor.getSnapshot().status !== 'done')
      fail('stop-is-bounded', `still ${JSON.stringify(actor.getSnapshot().value)}`);
    const stops = new Set(calls.filter((c) => c.input.event === 'stopped').map((c) => c.input.url));
    for (const url of started)
      if (!stops.has(url)) fail('stopped-to-every-started', `${url} got started, never stopped`);
    expect(violations).toEqual([]);
  } finally {
    actor.stop();
  }
}

describe('announcer statechart, model-based (fast-check on a live announcer and its trackers)', () => {
  it('keeps every invariant under any sequence of torrent commands, tracker answers and time', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => run(steps)),
      { ...propertyOptions, numRuns: Math.min(propertyOptions.numRuns ?? 1000, 1000) },
    );
  });

  it('a tracker that said "never" is skipped when the round comes back to it', async () => {
    const ans = (how: 'ok' | 'fail' | 'never'): Step => ({ t: 'answer', how, peers: [], interval: 60 });
    await run([
      { t: 'start' },
      ans('never'),
      ans('fail'),
      ans('fail'),
      { t: 'advance', ms: 60_000 },
      ans('ok'),
      { t: 'advance', ms: 600_000 },
    ]);
  });

  it('a standalone announcer stopped before it started announces nothing', async () => {
    await run([{ t: 'stop' }]);
  });
});
