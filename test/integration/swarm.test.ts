/**
 * A swarm of bt-actor engines on 127.0.0.1: one seed and three leechers meeting through a
 * bittorrent-tracker server. Every leecher completes byte-identical, and the leechers upload to each
 * other (the seed, held to 8 MiB/s, is not their only source).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server as TrackerServer } from 'bittorrent-tracker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachListener, createTorrentActor, type TorrentActor } from '../../src/app/torrent-actor.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { realClock } from '../../src/io/clock.js';
import { PeerListener, selfKeys } from '../../src/io/listener.js';
import { RateLimiter, type WireShaping } from '../../src/io/rate-limit.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';

let work: string;
let tracker: InstanceType<typeof TrackerServer>;
let meta: Metainfo;
let data: Buffer;
const engines: { actor: TorrentActor; listener: PeerListener }[] = [];

async function engine(dir: string, shaping?: WireShaping): Promise<TorrentActor> {
  const listener = await PeerListener.listen({ port: 0, host: '127.0.0.1' });
  const actor = createTorrentActor({
    meta,
    dir,
    port: listener.port,
    selfKeys: selfKeys(listener.port),
    ...(shaping && { shaping }),
  });
  attachListener(actor, listener, meta);
  engines.push({ actor, listener });
  actor.start();
  return actor;
}

function stop(a: TorrentActor): Promise<void> {
  if (a.getSnapshot().status !== 'active') return Promise.resolve();
  return new Promise<void>((resolve) => {
    a.subscribe({ complete: () => resolve() });
    a.send({ type: 'torrent.stop' });
  });
}

const isComplete = (a: TorrentActor) => a.getSnapshot().matches({ active: 'complete' });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-swarm-'));
  tracker = new TrackerServer({ http: true, udp: false, ws: false, stats: false, interval: 60_000 });
  tracker.on('error', () => {});
  tracker.on('warning', () => {});
  await new Promise<void>((resolve) => tracker.listen(0, { http: '127.0.0.1' }, () => resolve()));
  const announce = `http://127.0.0.1:${(tracker.http!.address() as { port: number }).port}/announce`;
  data = randomBytes(24 * 1024 * 1024);
  await mkdir(join(work, 'seed'), { recursive: true });
  await writeFile(join(work, 'seed', 'swarm.bin'), data);
  const { torrent } = await createTorrent(join(work, 'seed', 'swarm.bin'), {
    announce: [[announce]],
    pieceLength: 64 * 1024,
    creationDate: null,
  });
  meta = parseMetainfo(torrent);
});
afterAll(async () => {
  for (const e of engines) {
    if (e.actor.getSnapshot().status === 'active') e.actor.send({ type: 'torrent.stop' });
  }
  await Promise.all(
    engines.map(
      (e) =>
        new Promise<void>((resolve) => {
          if (e.actor.getSnapshot().status !== 'active') return resolve();
          const timer = setTimeout(resolve, 8000);
          e.actor.subscribe({ complete: () => (clearTimeout(timer), resolve()) });
        }),
    ),
  );
  await Promise.all(engines.map((e) => e.listener.close()));
  await new Promise<void>((resolve) => (tracker ? tracker.close(() => resolve()) : resolve()));
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a bt-actor swarm', () => {
  it('one seed, three leechers: all complete, and the leechers upload to each other', async () => {
    // The seed uploads at 8 MiB/s: alone it would need 9 s for the three leechers' 72 MiB, so they must
    // serve each other (unthrottled on loopback, it could serve all three before they met).
    const seed = await engine(join(work, 'seed'), {
      down: new RateLimiter(realClock),
      up: new RateLimiter(realClock, 8 * 1024 * 1024),
    });
    await new Promise<void>((resolve) => seed.subscribe((s) => s.matches({ active: 'complete' }) && resolve()));
    const leechers: TorrentActor[] = [];
    for (let i = 0; i < 3; i++) leechers.push(await engine(join(work, `leech${i}`)));
    const deadline = Date.now() + 60_000;
    while (!leechers.every(isComplete) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(leechers.map(isComplete)).toEqual([true, true, true]);
    for (let i = 0; i < 3; i++) {
      const got = await readFile(join(work, `leech${i}`, 'swarm.bin'));
      expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    }
    // Stopped, every peer's final counters are in (live peers report theirs once a second).
    await Promise.all([seed, ...leechers].map(stop));
    const uploaded = leechers.map((l) => l.getSnapshot().context.progress.uploaded);
    const seedUploaded = seed.getSnapshot().context.progress.uploaded;
    console.log(`swarm: seed uploaded ${seedUploaded}, leechers uploaded ${uploaded.join(', ')}`);
    // The leechers served each other: the seed was not their only source.
    expect(uploaded.filter((u) => u > 0).length).toBeGreaterThanOrEqual(2);
    expect(seedUploaded).toBeGreaterThan(0);
  });
});
