/**
 * Model-based tests of the web seed statechart: paths generated from the machine itself (xstate/graph),
 * each replayed against a live web seed whose fetches go through a scripted effect and whose timers run
 * on a simulated clock. After every step the live actor is where the model says, and the invariants
 * hold: a piece is held exactly while fetching or verifying; at most one fetch is under way; strikes stay
 * under the limit unless dropped; every piece fetched is reported once, with its own length.
 */
import { describe, expect, it } from 'vitest';
import { createActor, type EventObject } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { webSeedMachine } from '../../src/machines/webseed/webseed.machine.js';
import {
  flush,
  GEOMETRY,
  httpError,
  MULTI,
  PIECE,
  scriptedFetch,
  settings,
  SimulatedClock,
} from './webseed-harness.js';

const input = { key: 'ws:http://h/files', url: 'http://h/files', layout: MULTI, geometry: GEOMETRY, settings };

const E = {
  assign0: { type: 'webseed.assign', index: 0 },
  assign3: { type: 'webseed.assign', index: 3 },
  none: { type: 'webseed.none' },
  verified: { type: 'webseed.verified', index: 0 },
  bad: { type: 'webseed.bad', index: 0 },
  taken: { type: 'webseed.taken', index: 0 },
  ok: { type: 'xstate.done.actor.fetch', output: new Uint8Array(0) },
  fail: { type: 'xstate.error.actor.fetch', error: httpError('BT_ERR_WEBSEED_HTTP_STATUS', { retryAfterMs: 2_500 }) },
  notFound: { type: 'xstate.error.actor.fetch', error: httpError('BT_ERR_WEBSEED_NOT_FOUND', { permanent: true }) },
  idleRetry: { type: 'xstate.after.idleRetry.webseed.waiting' },
  backoff: { type: 'xstate.after.backoffDelay.webseed.backoff' },
} as const;
const allEvents = Object.values(E) as unknown as EventObject[];

const serializeState = (s: { value: unknown; context: Record<string, unknown> }) =>
  JSON.stringify([s.value, s.context.failures, s.context.piece]);

type Path = ReturnType<typeof getShortestPaths<typeof webSeedMachine>>[number];

async function replay(path: Path) {
  const clock = new SimulatedClock();
  const { calls, logic } = scriptedFetch();
  const actor = createActor(webSeedMachine.provide({ actors: { fetch: logic } }), { clock, input });
  const reports: { type: string; index?: number; data?: Uint8Array }[] = [];
  actor.on('*', (e) => void reports.push(e));
  actor.start();
  let settled = 0;
  for (const step of path.steps.slice(1)) {
    const e = step.event as EventObject & { error?: unknown };
    if (e.type === 'xstate.done.actor.fetch') {
      const call = calls[settled++]!;
      call.resolve(new Uint8Array(call.input.length));
    } else if (e.type === 'xstate.error.actor.fetch') calls[settled++]!.reject(e.error);
    else if (e.type === E.idleRetry.type) clock.increment(settings.idleRetryMs);
    else if (e.type === E.backoff.type) clock.increment(settings.backoffMaxMs);
    else actor.send(e as never);
    await flush();
    const snap = actor.getSnapshot();
    expect(snap.value, `after ${e.type}`).toEqual(step.state.value);
    const c = snap.context;
    expect(c.failures).toBe(step.state.context.failures);
    // Invariants.
    const holding = snap.matches('fetching') || snap.matches('verifying');
    expect(c.piece !== undefined, 'piece-held-iff-fetching-or-verifying').toBe(holding);
    expect(calls.length - settled - calls.filter((x) => x.aborted).length, 'one-fetch-at-a-time').toBeLessThanOrEqual(
      1,
    );
    if (snap.status !== 'done') expect(c.failures, 'strikes-under-limit').toBeLessThan(settings.maxFailures);
    const data = reports.filter((r) => r.type === 'webseed.data');
    expect(data.length, 'every-fetched-piece-reported-once').toBe(
      calls.filter((_, i) => i < settled).length - reports.filter((r) => r.type === 'webseed.failed').length,
    );
    for (const d of data) expect(d.data!.length).toBe(d.index === 3 ? GEOMETRY.length - 3 * PIECE : PIECE);
    if (snap.status === 'done') expect(reports.at(-1)!.type).toBe('webseed.dropped');
  }
  actor.stop();
}

describe('web seed statechart, model-based', () => {
  const shortest = getShortestPaths(webSeedMachine, {
    input,
    events: allEvents as never,
    serializeState: serializeState as never,
  });
  it('reaches every state', () => {
    const values = new Set(shortest.map((p) => JSON.stringify(p.state.value)));
    for (const v of ['idle', 'waiting', 'fetching', 'verifying', 'backoff', 'dropped'])
      expect(values).toContain(`"${v}"`);
  });
  it.each(
    shortest.map(
      (p, i) =>
        [
          i,
          p.steps
            .slice(1)
            .map((s) => s.event.type.replace(/^xstate\.|^webseed\./, ''))
            .join(' → ') || '(start)',
          p,
        ] as const,
    ),
  )('shortest path %i: %s', async (_i, _name, path) => replay(path));
});
