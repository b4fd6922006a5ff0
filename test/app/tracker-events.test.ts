/**
 * The tracker conversation of `bt-actor run`, as a logging tracker sees it (BEP 3): `started` first;
 * `completed` when the download completes — also for a plain run that stops right after — and
 * `stopped` on every stop, with the counters of that moment.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/app/cli.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { loggingTracker, type LoggingTracker } from '../support/logging-tracker.js';
import { startLocalSwarm, type LocalSwarm } from '../support/local-swarm.js';
import { freePort } from '../support/proc.js';

let swarm: LocalSwarm;
let tracker: LoggingTracker;
let torrent: string;
let work: string;
let runs = 0;
const SIZE = 2 * 1024 * 1024;

beforeAll(async () => {
  swarm = await startLocalSwarm({ sizeMiB: SIZE / 1024 / 1024, seeders: 1, pieceLength: 64 * 1024 });
  tracker = await loggingTracker();
  work = await mkdtemp(join(tmpdir(), 'bt-actor-tracker-events-'));
  const made = await createTorrent(join(swarm.seedDir, swarm.meta.name), {
    announce: [[tracker.url]],
    pieceLength: 64 * 1024,
    creationDate: null,
  });
  torrent = join(work, 'logged.torrent');
  await writeFile(torrent, made.torrent);
}, 60_000);
afterAll(async () => {
  await tracker?.close();
  await swarm?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** `bt-actor run` in-process; `stopWhen` aborts it (as Ctrl-C does) at the first JSON line it accepts. */
async function run(args: string[], stopWhen?: (line: Record<string, unknown>) => boolean) {
  const port = await freePort();
  const ac = new AbortController();
  const code = await main(
    [
      'run',
      torrent,
      '--out',
      join(work, `out${++runs}`),
      '--json',
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      ...args,
    ],
    {
      out: (l) => {
        if (stopWhen?.(JSON.parse(l) as Record<string, unknown>)) ac.abort();
      },
      err: () => undefined,
      signal: ac.signal,
    },
  );
  return { code, announces: tracker.log.filter((a) => a.port === port) };
}

describe('the tracker conversation (BEP 3)', () => {
  it('a plain run: started, completed when done, then stopped — all with the right left', async () => {
    tracker.peers = [`127.0.0.1:${swarm.seeders[0]!.listener.port}`];
    const r = await run([]);
    expect(r.code).toBe(0);
    expect(
      r.announces.map((a) => a.event),
      JSON.stringify(r.announces),
    ).toEqual(['started', 'completed', 'stopped']);
    expect(r.announces[0]!.left).toBe(SIZE);
    // Every byte was downloaded in this run: the tracker hears all of them, however fast it went.
    expect(r.announces[1]).toMatchObject({ left: 0, downloaded: SIZE });
    expect(r.announces[2]).toMatchObject({ left: 0, downloaded: SIZE });
  });

  it('seeding, stopped by Ctrl-C: started, completed, stopped', async () => {
    tracker.peers = [`127.0.0.1:${swarm.seeders[0]!.listener.port}`];
    const r = await run(['--seed'], (l) => l.event === 'complete');
    expect(r.code).toBe(0);
    expect(r.announces.map((a) => a.event)).toEqual(['started', 'completed', 'stopped']);
  });

  it('stopped before completing: started, then stopped with what was left; no completed', async () => {
    tracker.peers = []; // nobody to download from
    const r = await run([], (l) => l.event === 'tracker' && l.announce === 'started');
    expect(r.code).toBe(1);
    expect(r.announces.map((a) => a.event)).toEqual(['started', 'stopped']);
    expect(r.announces[1]).toMatchObject({ left: SIZE });
  });
});
