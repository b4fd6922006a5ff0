/**
 * BEP 52: a hybrid torrent's announcer announces under both info hashes — two requests per announce to
 * the same tracker (v1 and truncated v2 hash, the same counters and event), one result from the two
 * replies. The announcer and tracker statecharts run as the engine wires them (src/app/trackers.ts), with
 * a scripted client in place of HTTP/UDP.
 */
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { announcerLogic } from '../../src/app/trackers.js';
import { mergeAnnounceResults, mergeScrapeStats } from '../../src/io/tracker-actors.js';
import type { AnnouncerReport } from '../../src/machines/tracker/announcer.machine.js';
import type { AnnounceRequest } from '../../src/io/tracker-client.js';
import type { AnnounceResult } from '../../src/protocol/tracker-types.js';
import { advance, failure, flush, ok, SimulatedClock } from './tracker-harness.js';

const V1 = new Uint8Array(20).fill(0x11);
const V2 = new Uint8Array(20).fill(0x22);
const settings = { backoffBaseMs: 15_000, minAnnounceIntervalMs: 30_000, stopTimeoutMs: 5_000 };
const peer = (n: number) => ({ host: `10.0.0.${n}`, port: 6881, family: 4 as const });

interface ClientCall {
  req: AnnounceRequest;
  resolve: (r: AnnounceResult) => void;
  reject: (e: unknown) => void;
}

function start(tiers: string[][], hybrid: boolean) {
  const clock = new SimulatedClock();
  const calls: ClientCall[] = [];
  const client = {
    announce: (req: AnnounceRequest) =>
      new Promise<AnnounceResult>((resolve, reject) => calls.push({ req, resolve, reject })),
  };
  const actor = createActor(announcerLogic(client, V1, hybrid ? V2 : undefined), {
    clock,
    input: { tiers, stats: { uploaded: 0, downloaded: 0, left: 10 }, settings },
  });
  const reports: AnnouncerReport[] = [];
  actor.on('announcer.peers', (e) => reports.push(e));
  actor.on('announcer.tracker', (e) => reports.push(e));
  actor.start();
  const hashes = () => calls.map((c) => Buffer.from(c.req.infoHash).toString('hex').slice(0, 2));
  const peersReported = () => reports.flatMap((r) => (r.type === 'announcer.peers' ? r.peers : []));
  return { clock, calls, actor, reports, hashes, peersReported };
}

describe('announcer of a hybrid torrent (BEP 52: both info hashes)', () => {
  it('announces under both hashes to the same tracker, and reports the peers of both replies', async () => {
    const { actor, calls, hashes, peersReported, clock } = start([['http://t/a']], true);
    actor.send({ type: 'announcer.start' });
    await flush();
    expect(hashes()).toEqual(['11', '22']);
    expect(calls.map((c) => c.req.url)).toEqual(['http://t/a', 'http://t/a']);
    expect(calls.map((c) => c.req.event)).toEqual(['started', 'started']);
    expect(calls[1]!.req.stats).toEqual(calls[0]!.req.stats);
    calls[0]!.resolve(ok({ interval: 1800, peers: [peer(1), peer(2)], trackerId: 'tid', complete: 3 }));
    calls[1]!.resolve(ok({ interval: 900, peers: [peer(2), peer(3)], complete: 5 }));
    await flush();
    expect(peersReported().map((p) => p.host)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    // The one only the v2 reply named is marked (it is dialled with the v2 hash); one in both is not.
    expect(peersReported().map((p) => p.viaV2 ?? false)).toEqual([false, false, true]);
    expect(actor.getSnapshot().context.status['http://t/a']!.lastResult).toMatchObject({
      interval: 900,
      trackerId: 'tid',
      complete: 5,
      peerCount: 3,
    });
    // The next announce comes after the shorter interval, again under both hashes; the tracker id goes
    // with the v1 announce only.
    await advance(clock, 899_000);
    expect(calls).toHaveLength(2);
    await advance(clock, 1_000);
    expect(hashes()).toEqual(['11', '22', '11', '22']);
    expect(calls[2]!.req.trackerId).toBe('tid');
    expect(calls[3]!.req).not.toHaveProperty('trackerId');
  });

  it('one hash failing still counts as an answer; both failing is a failure (the v1 error) and the next tracker is tried', async () => {
    const { actor, calls, hashes, reports, peersReported, clock } = start([['http://t/a', 'http://t/b']], true);
    actor.send({ type: 'announcer.start' });
    await flush();
    calls[0]!.reject(failure('BT_ERR_TRACKER_HTTP'));
    calls[1]!.resolve(ok({ peers: [peer(7)] }));
    await flush();
    expect(peersReported().map((p) => p.host)).toEqual(['10.0.0.7']);
    expect(peersReported()[0]!.viaV2).toBe(true);
    expect(reports.filter((r) => r.type === 'announcer.tracker' && r.report.type === 'tracker.failed')).toEqual([]);
    expect(actor.getSnapshot().context.current).toBe('http://t/a');

    await advance(clock, 1_800_000);
    expect(hashes()).toHaveLength(4);
    calls[2]!.reject(failure('BT_ERR_TRACKER_TIMEOUT'));
    calls[3]!.reject(failure('BT_ERR_UDP_ERROR_REPLY'));
    await flush();
    const failed = reports.flatMap((r) =>
      r.type === 'announcer.tracker' && r.report.type === 'tracker.failed' ? [r.report] : [],
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]!.failure.code).toBe('BT_ERR_TRACKER_TIMEOUT');
    expect(calls.slice(4).map((c) => [c.req.url, Buffer.from(c.req.infoHash)[0]])).toEqual([
      ['http://t/b', 0x11],
      ['http://t/b', 0x22],
    ]);
  });

  it('sends `stopped` under both hashes at shutdown', async () => {
    const { actor, calls } = start([['http://t/a']], true);
    actor.send({ type: 'announcer.start' });
    await flush();
    for (const c of calls) c.resolve(ok());
    await flush();
    actor.send({ type: 'announcer.stop' });
    await flush();
    const stops = calls.filter((c) => c.req.event === 'stopped');
    expect(stops.map((c) => Buffer.from(c.req.infoHash)[0])).toEqual([0x11, 0x22]);
    for (const c of stops) c.resolve(ok());
    await flush();
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('a v1 torrent announces once per announce, under its one hash', async () => {
    const { actor, hashes } = start([['http://t/a']], false);
    actor.send({ type: 'announcer.start' });
    await flush();
    expect(hashes()).toEqual(['11']);
  });
});

describe('mergeAnnounceResults', () => {
  it('shortest interval, longest minimum, first tracker id, largest counts, each peer once, warnings joined', () => {
    expect(
      mergeAnnounceResults([
        {
          interval: 1800,
          minInterval: 60,
          trackerId: 'x',
          complete: 2,
          incomplete: 9,
          warning: 'w1',
          peers: [peer(1)],
        },
        { interval: 600, minInterval: 120, trackerId: 'y', complete: 4, warning: 'w2', peers: [peer(1), peer(2)] },
      ]),
    ).toEqual({
      interval: 600,
      minInterval: 120,
      trackerId: 'x',
      complete: 4,
      incomplete: 9,
      warning: 'w1; w2',
      peers: [peer(1), peer(2)],
    });
  });

  it('one result is returned as it is; none is an error', () => {
    const r = { interval: 5, peers: [peer(3)] };
    expect(mergeAnnounceResults([r])).toBe(r);
    expect(() => mergeAnnounceResults([])).toThrow(RangeError);
  });
});

describe('mergeScrapeStats (BEP 52: a hybrid scraped under both hashes)', () => {
  const stats = (complete: number, incomplete: number, downloaded: number) => ({ complete, incomplete, downloaded });
  it('the largest of each count over the hashes the tracker knows; the others left out; none known: zeros', () => {
    const files = new Map([
      ['11'.repeat(20), stats(3, 1, 9)],
      ['22'.repeat(20), stats(2, 4, 5)],
      ['33'.repeat(20), stats(50, 50, 50)], // another torrent of the reply
    ]);
    expect(mergeScrapeStats(files, ['11'.repeat(20), '22'.repeat(20)])).toEqual(stats(3, 4, 9));
    expect(mergeScrapeStats(files, ['11'.repeat(20), '44'.repeat(20)])).toEqual(stats(3, 1, 9));
    expect(mergeScrapeStats(files, ['44'.repeat(20)])).toEqual(stats(0, 0, 0));
  });
});
