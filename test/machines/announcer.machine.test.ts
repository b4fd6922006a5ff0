import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  announcerMachine,
  MAX_SEEN_PEERS,
  type AnnouncerReport,
} from '../../src/machines/tracker/announcer.machine.js';
import { trackerMachine } from '../../src/machines/tracker/tracker.machine.js';
import { advance, failure, flush, ok, scriptedTransport, SimulatedClock } from './tracker-harness.js';

const settings = { backoffBaseMs: 15_000, minAnnounceIntervalMs: 30_000, stopTimeoutMs: 5_000 };

function start(tiers: string[][]) {
  const clock = new SimulatedClock();
  const { calls, logic } = scriptedTransport();
  const machine = announcerMachine.provide({
    actors: { tracker: trackerMachine.provide({ actors: { announce: logic } }) },
  });
  const actor = createActor(machine, {
    clock,
    input: { tiers, stats: { uploaded: 0, downloaded: 0, left: 10 }, settings },
  });
  const reports: AnnouncerReport[] = [];
  actor.on('announcer.peers', (e) => reports.push(e));
  actor.on('announcer.tracker', (e) => reports.push(e));
  actor.start();
  const urls = () => calls.map((c) => c.input.url);
  const last = () => calls.at(-1)!;
  return { clock, calls, actor, reports, urls, last };
}

describe('announcer statechart (BEP 12 tiers)', () => {
  it('tries trackers of a tier in order, then the next tier', async () => {
    const { actor, urls, last } = start([['a', 'b'], ['c']]);
    actor.send({ type: 'announcer.start' });
    expect(urls()).toEqual(['a']);
    last().reject(failure());
    await flush();
    expect(urls()).toEqual(['a', 'b']);
    last().reject(failure());
    await flush();
    expect(urls()).toEqual(['a', 'b', 'c']);
    last().resolve(ok());
    await flush();
    expect(actor.getSnapshot().context.current).toBe('c');
  });

  it('moves a tracker that answers to the front of its tier', async () => {
    const { actor, last, urls } = start([['a', 'b', 'c'], ['d']]);
    actor.send({ type: 'announcer.start' });
    last().reject(failure());
    await flush();
    last().resolve(ok());
    await flush();
    expect(urls()).toEqual(['a', 'b']);
    expect(actor.getSnapshot().context.tiers).toEqual([['b', 'a', 'c'], ['d']]);
    expect(actor.getSnapshot().context.current).toBe('b');
  });

  it('after a whole round fails, starts again from the first tracker after its backoff', async () => {
    const { clock, actor, last, urls } = start([['a'], ['b']]);
    actor.send({ type: 'announcer.start' });
    last().reject(failure());
    await flush();
    last().reject(failure());
    await flush();
    expect(urls()).toEqual(['a', 'b']);
    await advance(clock, 14_999);
    expect(urls()).toEqual(['a', 'b']);
    await advance(clock, 1);
    expect(urls()).toEqual(['a', 'b', 'a']);
    last().reject(failure());
    await flush();
    expect(urls()).toEqual(['a', 'b', 'a', 'b']); // within a round: immediate
  });

  it('reports each peer address once, across replies and trackers (IPv4 and IPv6)', async () => {
    const { clock, actor, last, reports } = start([['a']]);
    actor.send({ type: 'announcer.start' });
    const p1 = { host: '127.0.0.1', port: 6881, family: 4 as const };
    const p2 = { host: '::1', port: 6881, family: 6 as const };
    last().resolve(ok({ interval: 60, peers: [p1, p2, p1] }));
    await flush();
    await advance(clock, 60_000);
    last().resolve(ok({ interval: 60, peers: [p2, { host: '127.0.0.2', port: 1, family: 4 }] }));
    await flush();
    const peers = reports.filter((r) => r.type === 'announcer.peers').flatMap((r) => (r as { peers: unknown[] }).peers);
    expect(peers).toEqual([p1, p2, { host: '127.0.0.2', port: 1, family: 4 }]);
  });

  it('remembers a bounded number of reported addresses, however many the trackers send', async () => {
    const { clock, actor, last } = start([['a']]);
    actor.send({ type: 'announcer.start' });
    const many = (from: number) =>
      Array.from({ length: 8_000 }, (_, i) => ({
        host: `10.${(from + i) >> 16}.${((from + i) >> 8) & 255}.${(from + i) & 255}`,
        port: 1,
        family: 4 as const,
      }));
    last().resolve(ok({ interval: 60, peers: many(0) }));
    await flush();
    expect(actor.getSnapshot().context.seenPeers.size).toBe(8_000);
    await advance(clock, 60_000);
    last().resolve(ok({ interval: 60, peers: many(8_000) }));
    await flush();
    expect(actor.getSnapshot().context.seenPeers.size).toBeLessThanOrEqual(MAX_SEEN_PEERS);
  });

  it('completed goes to the trackers; stop sends stopped to every tracker that got started', async () => {
    const { actor, calls, last } = start([['a', 'b'], ['c']]);
    actor.send({ type: 'announcer.start' });
    last().resolve(ok()); // a started
    await flush();
    // a fails on the next announce: b takes over and gets started
    actor.send({ type: 'announcer.completed' });
    await flush();
    expect(last().input).toMatchObject({ url: 'a', event: 'completed' });
    last().reject(failure());
    await flush();
    expect(last().input).toMatchObject({ url: 'b', event: 'started' });
    last().resolve(ok());
    await flush();
    actor.send({ type: 'announcer.stop' });
    await flush();
    // b, the tracker in use, got `started` with data left: it hears `completed` before `stopped`; a
    // (whose `completed` failed, no longer in use) hears only `stopped`.
    const completed = calls.filter((c) => c.input.event === 'completed' && c !== calls[1]);
    expect(completed.map((c) => c.input.url)).toEqual(['b']);
    expect(calls.filter((c) => c.input.event === 'stopped').map((c) => c.input.url)).toEqual(['a']);
    for (const c of completed) c.resolve(ok());
    await flush();
    const stops = calls
      .filter((c) => c.input.event === 'stopped')
      .map((c) => c.input.url)
      .sort();
    expect(stops).toEqual(['a', 'b']);
    for (const c of calls.filter((c) => c.input.event === 'stopped')) c.resolve(ok());
    await flush();
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('stopping is bounded even when trackers stall', async () => {
    const { clock, actor, last } = start([['a']]);
    actor.send({ type: 'announcer.start' });
    last().resolve(ok());
    await flush();
    actor.send({ type: 'announcer.stop' });
    await advance(clock, 6_000);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('a torrent with no trackers starts and stops at once', async () => {
    const { actor, calls } = start([]);
    actor.send({ type: 'announcer.start' });
    actor.send({ type: 'announcer.stop' });
    await flush();
    expect(calls).toHaveLength(0);
    expect(actor.getSnapshot().status).toBe('done');
  });
});
