/**
 * Model-based tests: paths generated from the tracker statechart itself (xstate/graph), each
 * replayed against a running tracker actor whose announces go through a scripted transport and
 * whose timers run on a simulated clock. After every step the running actor must be in the state
 * the model says.
 */
import { describe, expect, it } from 'vitest';
import { createActor, getNextSnapshot, type EventObject } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { trackerMachine } from '../../src/machines/tracker/tracker.machine.js';
import { advance, failure, flush, ok, scriptedTransport, SimulatedClock } from './tracker-harness.js';

const settings = {
  backoffBaseMs: 15_000,
  backoffMaxMs: 60_000,
  minAnnounceIntervalMs: 30_000,
  stopTimeoutMs: 5_000,
  numwant: 50,
};
const input = { url: 'http://t/announce', stats: { uploaded: 0, downloaded: 0, left: 10 }, settings };

// Abstract events of the model: the machine's own events, plus the transport's answers and the timers.
const E = {
  enable: { type: 'tracker.enable' },
  enableLater: { type: 'tracker.enable', immediate: false },
  disable: { type: 'tracker.disable' },
  completed: { type: 'tracker.completed' },
  reannounce: { type: 'tracker.reannounce' },
  stop: { type: 'tracker.stop' },
  ok: { type: 'xstate.done.actor.announce', output: ok({ interval: 120, minInterval: 60 }) },
  fail: { type: 'xstate.error.actor.announce', error: failure() },
  completedOk: { type: 'xstate.done.actor.announceCompleted', output: ok() },
  completedFail: { type: 'xstate.error.actor.announceCompleted', error: failure() },
  stoppedOk: { type: 'xstate.done.actor.announceStopped', output: ok() },
  stoppedFail: { type: 'xstate.error.actor.announceStopped', error: failure() },
  interval: { type: 'xstate.after.announceInterval.tracker.active.waiting' },
  minInterval: { type: 'xstate.after.minInterval.tracker.active.waiting.cooling' },
  backoff: { type: 'xstate.after.backoffDelay.tracker.active.backoff' },
  finishingTimeout: { type: 'xstate.after.stopTimeout.tracker.active.announcing.finishing' },
  completingTimeout: { type: 'xstate.after.stopTimeout.tracker.stopping.completing' },
  leavingTimeout: { type: 'xstate.after.stopTimeout.tracker.stopping.leaving' },
} as const;
const allEvents = Object.values(E) as unknown as EventObject[];

// The model's state: its configuration plus the flags that change what happens next.
const serializeState = (s: { value: unknown; context: Record<string, unknown> }) =>
  JSON.stringify([
    s.value,
    s.context.started,
    s.context.completedPending,
    s.context.toldComplete,
    (s.context.failures as number) > 0,
    s.context.announceRequested,
    // Whether the announce under way is the `completed` one decides what a stop does.
    s.context.inFlightEvent === 'completed',
  ]);

type Path = ReturnType<typeof getShortestPaths<typeof trackerMachine>>[number];

/** Replays one model path against a live actor and checks the state after every step. */
async function replay(path: Path) {
  const clock = new SimulatedClock();
  const { calls, logic } = scriptedTransport();
  const actor = createActor(trackerMachine.provide({ actors: { announce: logic } }), { clock, input });
  actor.start();
  let pending = 0; // calls[] index of the announce the next done/error answers
  const settled = new Set<number>();
  let startedSeen = false;
  const delays: Record<string, () => number> = {
    interval: () => Math.max((actor.getSnapshot().context.interval ?? 0) * 1000, settings.minAnnounceIntervalMs),
    minInterval: () => Math.max((actor.getSnapshot().context.minInterval ?? 0) * 1000, settings.minAnnounceIntervalMs),
    backoff: () => settings.backoffMaxMs * 4, // past any backoff the model may be in
    finishingTimeout: () => settings.stopTimeoutMs,
    completingTimeout: () => settings.stopTimeoutMs,
    leavingTimeout: () => settings.stopTimeoutMs,
  };
  const rejected = new Set<number>();
  let completedSent = false; // `tracker.completed` reached a tracker that had got `started`
  for (const step of path.steps.slice(1)) {
    const e = step.event as EventObject & { output?: unknown; error?: unknown };
    if (e.type.startsWith('tracker.')) {
      const c = actor.getSnapshot();
      if (e.type === 'tracker.completed' && c.context.started && c.matches('active')) completedSent = true;
      // A tracker not in use (disabled) at the stop hears only `stopped`.
      if (e.type === 'tracker.stop' && c.matches('idle')) completedSent = false;
      actor.send(e as never);
    } else if (e.type.startsWith('xstate.done.actor.')) {
      pending = calls.length - 1;
      settled.add(pending);
      calls[pending]!.resolve(e.output as never);
    } else if (e.type.startsWith('xstate.error.actor.')) {
      pending = calls.length - 1;
      settled.add(pending);
      rejected.add(pending);
      calls[pending]!.reject(e.error);
    } else {
      const key = (Object.keys(E) as (keyof typeof E)[]).find((k) => E[k].type === e.type)!;
      clock.increment(delays[key]!());
    }
    await flush();
    expect(actor.getSnapshot().value, `after ${e.type}`).toEqual(step.state.value);
    expect(actor.getSnapshot().context.started).toBe(step.state.context.started);
    // Invariants: one announce in flight at most; `stopped` only to a tracker that got `started`, and
    // only once; nothing after it.
    const live = calls.filter((c, i) => !c.aborted && !settled.has(i));
    expect(live.length, 'one-announce-at-a-time').toBeLessThanOrEqual(1);
    const stops = calls.filter((c) => c.input.event === 'stopped');
    expect(stops.length, 'stopped-once').toBeLessThanOrEqual(1);
    if (stops.length === 1) {
      expect(startedSeen, 'stopped-only-if-started').toBe(true);
      expect(calls.at(-1), 'nothing-after-stopped').toBe(stops[0]);
      // BEP 3: the tracker in use hears of the completion, even when we stop right after it.
      if (completedSent)
        expect(
          calls.some((c) => c.input.event === 'completed'),
          'completed-before-stopped',
        ).toBe(true);
    }
    // A `completed` the tracker answered is never sent again.
    const answered = calls.findIndex((c, i) => c.input.event === 'completed' && settled.has(i) && !rejected.has(i));
    if (answered >= 0)
      expect(
        calls.slice(answered + 1).some((c) => c.input.event === 'completed'),
        'completed-once',
      ).toBe(false);
    if (actor.getSnapshot().context.started) startedSeen = true;
  }
  actor.stop();
  await advance(clock, 0);
}

const traversal = { input, events: allEvents as never, serializeState: serializeState as never };

describe('tracker statechart, model-based', () => {
  const shortest = getShortestPaths(trackerMachine, traversal);
  it('reaches every state of the model', () => {
    const values = new Set(shortest.map((p) => JSON.stringify(p.state.value)));
    for (const v of [
      '"idle"',
      '{"active":"backoff"}',
      '{"active":{"waiting":"cooling"}}',
      '{"active":{"waiting":"ready"}}',
      '{"active":{"announcing":"requesting"}}',
      '{"active":{"announcing":"finishing"}}',
      '{"stopping":"completing"}',
      '{"stopping":"leaving"}',
      '"stopped"',
    ]) {
      expect(values).toContain(v);
    }
  });
  it.each(
    shortest.map(
      (p, i) =>
        [
          i,
          p.steps
            .slice(1)
            .map((s) => s.event.type.replace(/^xstate\.|^tracker\./, ''))
            .join(' → ') || '(start)',
          p,
        ] as const,
    ),
  )('shortest path %i: %s', async (_i, _name, path) => replay(path));

  // From every state the model reaches: shut down, and let a started tracker's stopped announce answer.
  // Extend a path with events, the model's next states computed by the machine's own transition function.
  const extend = (p: Path, events: EventObject[]): Path => {
    const steps = [...p.steps];
    let state = p.state;
    for (const event of events) {
      state = getNextSnapshot(trackerMachine, state as never, event as never) as typeof state;
      steps.push({ event, state } as (typeof steps)[number]);
    }
    return { ...p, steps, state };
  };
  /** After `stop`: every announce answered (`ok`), failed (`fail`) or left unanswered (`timeout`) to the end. */
  const finish = (p: Path, how: 'ok' | 'fail' | 'timeout'): Path => {
    let q = p;
    for (let i = 0; i < 4 && q.state.status !== 'done'; i++) {
      const v = JSON.stringify(q.state.value);
      const step =
        v === '{"active":{"announcing":"finishing"}}'
          ? { ok: E.ok, fail: E.fail, timeout: E.finishingTimeout }
          : v === '{"stopping":"completing"}'
            ? { ok: E.completedOk, fail: E.completedFail, timeout: E.completingTimeout }
            : { ok: E.stoppedOk, fail: E.stoppedFail, timeout: E.leavingTimeout };
      q = extend(q, [step[how]]);
    }
    return q;
  };
  const toStopped = shortest
    .filter((p) => p.state.status !== 'done')
    .flatMap((p) => {
      const stopped = extend(p, [E.stop]);
      if (stopped.state.status === 'done') return [stopped];
      return (['ok', 'fail', 'timeout'] as const).map((how) => finish(stopped, how));
    });
  it.each(
    toStopped.map(
      (p, i) =>
        [
          i,
          p.steps
            .slice(1)
            .map((s) => s.event.type.replace(/^xstate\.|^tracker\./, ''))
            .join(' → '),
          p,
        ] as const,
    ),
  )('path then shutdown %i: %s', async (_i, _name, path) => {
    expect(path.state.status).toBe('done');
    await replay(path);
  });
});
