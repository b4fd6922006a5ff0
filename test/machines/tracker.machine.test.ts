import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { trackerMachine } from '../../src/machines/tracker/tracker.machine.js';
import type { TrackerReport } from '../../src/machines/tracker/types.js';
import { advance, failure, flush, ok, scriptedTransport, SimulatedClock } from './tracker-harness.js';

const settings = {
  backoffBaseMs: 15_000,
  backoffMaxMs: 30 * 60_000,
  minAnnounceIntervalMs: 30_000,
  stopTimeoutMs: 5_000,
  numwant: 50,
};

function start(statsLeft = 1000) {
  const clock = new SimulatedClock();
  const { calls, logic } = scriptedTransport();
  const stats = { uploaded: 0, downloaded: 0, left: statsLeft };
  const actor = createActor(trackerMachine.provide({ actors: { announce: logic } }), {
    clock,
    input: { url: 'http://t/announce', stats, settings },
  });
  const reports: TrackerReport[] = [];
  for (const t of ['tracker.response', 'tracker.failed', 'tracker.warning', 'tracker.stopped'] as const)
    actor.on(t, (e) => reports.push(e));
  actor.start();
  return { clock, calls, actor, reports, stats };
}

const state = (a: { getSnapshot(): { value: unknown } }) => JSON.stringify(a.getSnapshot().value);

describe('tracker statechart', () => {
  it('announces started first, then regular announces every interval, echoing the tracker id', async () => {
    const { clock, calls, actor, reports } = start();
    expect(state(actor)).toBe('"idle"');
    actor.send({ type: 'tracker.enable' });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.input).toMatchObject({
      url: 'http://t/announce',
      event: 'started',
      numwant: 50,
      stats: { left: 1000 },
    });
    calls[0]!.resolve(ok({ interval: 120, trackerId: 'T1', peers: [{ host: '127.0.0.1', port: 7000, family: 4 }] }));
    await flush();
    expect(state(actor)).toBe('{"active":{"waiting":"cooling"}}');
    expect(reports[0]).toMatchObject({ type: 'tracker.response', event: 'started', result: { interval: 120 } });
    await advance(clock, 119_999);
    expect(calls).toHaveLength(1);
    await advance(clock, 1);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.input.event).toBeUndefined();
    expect(calls[1]!.input.trackerId).toBe('T1');
  });

  it('never announces more often than the configured floor, whatever interval the tracker gives', async () => {
    const { clock, calls, actor } = start();
    actor.send({ type: 'tracker.enable' });
    calls[0]!.resolve(ok({ interval: 0 }));
    await flush();
    await advance(clock, 29_999);
    expect(calls).toHaveLength(1);
    await advance(clock, 1);
    expect(calls).toHaveLength(2);
  });

  it('backs off exponentially after failures and reports each one', async () => {
    const { clock, calls, actor, reports } = start();
    actor.send({ type: 'tracker.enable' });
    const delays = [15_000, 30_000, 60_000, 120_000];
    for (let i = 0; i < delays.length; i++) {
      calls[i]!.reject(failure('BT_ERR_TRACKER_TIMEOUT'));
      await flush();
      expect(state(actor)).toBe('{"active":"backoff"}');
      await advance(clock, delays[i]! - 1);
      expect(calls).toHaveLength(i + 1);
      await advance(clock, 1);
      expect(calls).toHaveLength(i + 2);
      expect(calls[i + 1]!.input.event).toBe('started'); // still not started
    }
    expect(reports.filter((r) => r.type === 'tracker.failed').map((r) => (r as { failures: number }).failures)).toEqual(
      [1, 2, 3, 4],
    );
    calls[4]!.resolve(ok());
    await flush();
    expect(actor.getSnapshot().context.failures).toBe(0);
  });

  it('caps the backoff and honours BEP 31 retry in', async () => {
    const { clock, calls, actor } = start();
    actor.send({ type: 'tracker.enable' });
    calls[0]!.reject(failure('BT_ERR_TRACKER_FAILURE', { retryIn: 600 }));
    await flush();
    await advance(clock, 599_999);
    expect(calls).toHaveLength(1);
    await advance(clock, 1);
    expect(calls).toHaveLength(2);
  });

  it("stops for good on BEP 31 'retry in: never'", async () => {
    const { clock, calls, actor } = start();
    actor.send({ type: 'tracker.enable' });
    calls[0]!.reject(failure('BT_ERR_TRACKER_FAILURE', { never: true }));
    await flush();
    expect(state(actor)).toBe('"idle"');
    await advance(clock, 24 * 3600_000);
    expect(calls).toHaveLength(1);
  });

  it('sends completed at once when the torrent completes', async () => {
    const { calls, actor, stats } = start();
    actor.send({ type: 'tracker.enable' });
    calls[0]!.resolve(ok());
    await flush();
    actor.send({ type: 'tracker.stats', stats: { ...stats, left: 0 } });
    actor.send({ type: 'tracker.completed' });
    await flush();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.input).toMatchObject({ event: 'completed', stats: { left: 0 } });
    calls[1]!.resolve(ok());
    await flush();
    expect(actor.getSnapshot().context.completedPending).toBe(false);
  });

  it('completion during the started announce is told right after it', async () => {
    const { calls, actor, stats } = start();
    actor.send({ type: 'tracker.enable' });
    actor.send({ type: 'tracker.stats', stats: { ...stats, left: 0 } });
    actor.send({ type: 'tracker.completed' });
    calls[0]!.resolve(ok());
    await flush();
    expect(calls[1]!.input.event).toBe('completed');
  });

  it('a torrent complete before the first announce sends started with left 0 and no completed', async () => {
    const { clock, calls, actor } = start(0);
    actor.send({ type: 'tracker.completed' });
    actor.send({ type: 'tracker.enable' });
    expect(calls[0]!.input).toMatchObject({ event: 'started', stats: { left: 0 } });
    calls[0]!.resolve(ok({ interval: 60 }));
    await flush();
    await advance(clock, 60_000);
    expect(calls[1]!.input.event).toBeUndefined();
  });

  it('a re-announce request waits for min interval', async () => {
    const { clock, calls, actor } = start();
    actor.send({ type: 'tracker.enable' });
    calls[0]!.resolve(ok({ interval: 1800, minInterval: 60 }));
    await flush();
    actor.send({ type: 'tracker.reannounce' });
    await advance(clock, 59_999);
    expect(calls).toHaveLength(1);
    await advance(clock, 1);
    expect(calls).toHaveLength(2);
    calls[1]!.resolve(ok({ interval: 1800, minInterval: 60 }));
    await flush();
    await advance(clock, 60_000);
    expect(state(actor)).toBe('{"active":{"waiting":"ready"}}');
    actor.send({ type: 'tracker.reannounce' });
    expect(calls).toHaveLength(3);
  });

  it('reports a warning message', async () => {
    const { calls, actor, reports } = start();
    actor.send({ type: 'tracker.enable' });
    calls[0]!.resolve(ok({ warning: 'be nice' }));
    await flush();
    expect(reports).toContainEqual({ type: 'tracker.warning', url: 'http://t/announce', message: 'be nice' });
  });

  it('stop sends stopped to a started tracker, aborting what was in flight', async () => {
    const { calls, actor, reports } = start();
    actor.send({ type: 'tracker.enable' });
    calls[0]!.resolve(ok());
    await flush();
    actor.send({ type: 'tracker.stop' });
    expect(calls[1]!.input.event).toBe('stopped');
    calls[1]!.resolve(ok());
    await flush();
    expect(actor.getSnapshot().status).toBe('done');
    expect(reports.at(-1)).toEqual({ type: 'tracker.stopped', url: 'http://t/announce' });
  });

  it('a stop during the completed announce waits for its answer (disable and stop meanwhile change nothing), then sends stopped', async () => {
    const { calls, actor, reports } = start();
    actor.send({ type: 'tracker.enable' });
    calls[0]!.resolve(ok());
    await flush();
    actor.send({ type: 'tracker.completed' });
    expect(calls[1]!.input.event).toBe('completed');
    actor.send({ type: 'tracker.stop' });
    actor.send({ type: 'tracker.disable' });
    actor.send({ type: 'tracker.stop' });
    expect(state(actor)).toBe('{"active":{"announcing":"finishing"}}');
    expect(calls).toHaveLength(2);
    expect(calls[1]!.aborted).toBe(false);
    calls[1]!.resolve(ok());
    await flush();
    expect(reports).toContainEqual(expect.objectContaining({ type: 'tracker.response', event: 'completed' }));
    expect(calls[2]!.input.event).toBe('stopped');
    calls[2]!.resolve(ok());
    await flush();
    expect(actor.getSnapshot().status).toBe('done');
    // A tracker that never answers the completed announce: stopped goes out after stopTimeoutMs.
    const t = start();
    t.actor.send({ type: 'tracker.enable' });
    t.calls[0]!.resolve(ok());
    await flush();
    t.actor.send({ type: 'tracker.completed' });
    t.actor.send({ type: 'tracker.stop' });
    await advance(t.clock, 5_000);
    expect(t.calls[1]!.aborted).toBe(true);
    expect(t.calls.map((c) => c.input.event)).toEqual(['started', 'completed', 'stopped']);
  });

  it('stop does not announce to a tracker that never got started', async () => {
    const { calls, actor } = start();
    actor.send({ type: 'tracker.enable' });
    actor.send({ type: 'tracker.stop' });
    expect(calls[0]!.aborted).toBe(true);
    expect(calls).toHaveLength(1);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('the stopped announce is bounded in time when the tracker stalls', async () => {
    const { clock, calls, actor } = start();
    actor.send({ type: 'tracker.enable' });
    calls[0]!.resolve(ok());
    await flush();
    actor.send({ type: 'tracker.stop' });
    await advance(clock, 4_999);
    expect(actor.getSnapshot().status).toBe('active');
    await advance(clock, 1);
    expect(actor.getSnapshot().status).toBe('done');
    expect(calls[1]!.aborted).toBe(true);
  });

  it('disable keeps what it learned; enable after failures waits the backoff unless immediate', async () => {
    const { clock, calls, actor } = start();
    actor.send({ type: 'tracker.enable' });
    calls[0]!.reject(failure());
    await flush();
    actor.send({ type: 'tracker.disable' });
    expect(state(actor)).toBe('"idle"');
    actor.send({ type: 'tracker.enable', immediate: false });
    expect(calls).toHaveLength(1);
    await advance(clock, 15_000);
    expect(calls).toHaveLength(2);
    actor.send({ type: 'tracker.disable' });
    actor.send({ type: 'tracker.enable', immediate: true });
    expect(calls).toHaveLength(3);
  });
});
