/**
 * Hostile peers cost only themselves (issue 13): two honest libtorrent seeders and one hostile peer
 * (test/support/hostile-seeder.ts, raw TCP) in one swarm on 127.0.0.1; `bt-actor run` must finish
 * with verified data every time, ban the hostile peer whenever it sent bad bytes, and never ban an
 * honest seeder. `BT_HOSTILE_RUNS` (default 10) downloads per attack.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { hostileSeeder } from '../support/hostile-seeder.js';
import { runBtActor, type BtActorRun as Run } from '../support/bt-actor-run.js';
import { freePort, stopAll } from '../support/proc.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';

const RUNS = Number(process.env.BT_HOSTILE_RUNS ?? 10);
let work: string;
let file: string;
let meta: Metainfo;
let data: Buffer;
const honest: Seeder[] = [];

/** Peak RSS a download of this small torrent may reach, whatever a hostile peer sends. */
const RSS_BOUND_MB = 200;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-hostile-'));
  await writeRandom(join(work, 'src', 'swarm.bin'), 8 * 1024 * 1024 + 4321);
  data = await readFile(join(work, 'src', 'swarm.bin'));
  const { torrent } = await createTorrent(join(work, 'src', 'swarm.bin'), {
    pieceLength: 256 * 1024,
    creationDate: null,
  });
  file = join(work, 'swarm.torrent');
  await writeFile(file, torrent);
  meta = parseMetainfo(torrent);
  for (let i = 0; i < 2; i++)
    honest.push(await libtorrentSeeder(file, join(work, 'src'), await freePort(), { workDir: work }));
}, 120_000);

afterAll(async () => {
  await Promise.all(honest.map((s) => s.stop()));
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Every ban bt-actor reported (hashFailed and banned lines): `ip:port` and reason. */
function bansOf(r: Run): { peer: string; reason: string }[] {
  return bansIn(r.lines);
}

/** The bans `lines` report. */
function bansIn(lines: Run['lines']): { peer: string; reason: string }[] {
  return lines
    .filter((l) => l.event === 'hashFailed' || l.event === 'banned')
    .flatMap((l) => l.banned as { peer: string; reason: string }[]);
}

async function swarmWith(
  attack: Parameters<typeof hostileSeeder>[2],
  check: (r: Run, bad: { key: string; badBlocks: number }) => void,
) {
  const bad = await hostileSeeder(meta, data, attack);
  try {
    for (let run = 0; run < RUNS; run++) {
      const out = join(work, `out-${run}`);
      // The hostile peer first: it is dialled first and gets its share before the honest ones unchoke.
      const peers = [bad.key, ...honest.map((s) => `127.0.0.1:${s.port}`)].flatMap((p) => ['--peer', p]);
      const before = bad.badBlocks;
      try {
        const r = await runBtActor([file, '--out', out, ...peers], 120_000);
        expect(r.code, `run ${run}: ${r.stderr}`).toBe(0);
        await expectSameData(meta, join(work, 'src'), out);
        expect(r.peakRssMB, `run ${run}: peak RSS`).toBeLessThan(RSS_BOUND_MB);
        // No honest seeder is ever banned.
        for (const b of bansOf(r)) expect(b.peer, `run ${run}: ${b.reason}`).toBe(bad.key);
        check(r, { key: bad.key, badBlocks: bad.badBlocks - before });
      } finally {
        // A failed run's data must not make the next one (or the next test's) a complete torrent at start.
        await rm(out, { recursive: true, force: true });
      }
    }
  } finally {
    await bad.stop();
  }
}

describe('hostile peers among honest libtorrent seeders', () => {
  it(`stray garbage blocks nobody asked for: dropped, the sender closed, nobody honest banned (${RUNS} runs)`, async () => {
    await swarmWith({ stray: 24 }, (r, bad) => {
      expect(bad.badBlocks).toBeGreaterThan(0);
      // A stray block reaches a piece only if it happens to answer a request we had just sent (then it is
      // a wrong answer, not a stray one): such a piece fails with the liar among its senders, who is banned.
      const failed = r.lines.filter((l) => l.event === 'hashFailed');
      for (const f of failed) expect(f.peers as string[]).toContain(bad.key);
      if (failed.length > 0) expect(bansOf(r).map((b) => b.peer)).toContain(bad.key);
      expect(r.lines).toContainEqual(
        expect.objectContaining({
          event: 'peer-closed',
          key: bad.key,
          reason: failed.length > 0 ? expect.stringMatching(/protocol-error|bad-data/) : 'protocol-error',
        }),
      );
    });
  }, 600_000);

  it(`one corrupt piece: the liar is banned, the honest seeders never (${RUNS} runs)`, async () => {
    await swarmWith({ corrupt: [1] }, (r, bad) => {
      const failed = r.lines.filter((l) => l.event === 'hashFailed');
      for (const f of failed) expect(f.peers as string[]).toContain(bad.key);
      // Whenever its bad bytes made a piece fail, it is banned.
      if (failed.length > 0) expect(bansOf(r).map((b) => b.peer)).toContain(bad.key);
    });
  }, 600_000);

  it(`every block corrupt: the liar is banned at its first piece, the download completes (${RUNS} runs)`, async () => {
    await swarmWith({ corrupt: 'all' }, (r, bad) => {
      // Fewer bad blocks than a piece has (16) may all have come late for pieces others finished.
      if (bad.badBlocks < 16) return;
      const failed = r.lines.filter((l) => l.event === 'hashFailed');
      expect(failed.length).toBeGreaterThan(0);
      for (const f of failed) expect(f.peers as string[]).toContain(bad.key);
      expect(bansOf(r).map((b) => b.peer)).toContain(bad.key);
      // The ban closes it — unless the good copy that convicts it was the last piece: the download is
      // complete then, and the run ends with the ban (its connection closes with the run).
      const complete = r.lines.findIndex((l) => l.event === 'complete');
      const convicted = r.lines.findIndex((l) => bansIn([l]).some((b) => b.peer === bad.key));
      if (complete < 0 || convicted < complete)
        expect(r.lines).toContainEqual(
          expect.objectContaining({ event: 'peer-closed', key: bad.key, reason: 'bad-data' }),
        );
    });
  }, 600_000);

  it(`a second bitfield (protocol discipline): the peer is closed, nobody banned (${RUNS} runs)`, async () => {
    await swarmWith({ bitfields: 1 }, (r, bad) => {
      expect(bansOf(r)).toEqual([]);
      expect(r.lines).toContainEqual(
        expect.objectContaining({ event: 'peer-closed', key: bad.key, reason: 'protocol-error' }),
      );
    });
  }, 600_000);

  it(`a flood of haves and keep-alives: served by the others, the flooder closed, nobody banned (${RUNS} runs)`, async () => {
    await swarmWith({ flood: 200_000 }, (r, bad) => {
      expect(bansOf(r)).toEqual([]);
      // More haves than pieces: closed at the peer, before the torrent pays an event per have — when the
      // flood is read before the download is over (the others often finish first).
      for (const l of r.lines.filter((x) => x.event === 'peer-closed' && x.key === bad.key))
        expect(l.reason).toBe('protocol-error');
    });
  }, 600_000);

  it(`a peer that trickles its blocks (1 KiB per 20 ms): the others carry the download (${RUNS} runs)`, async () => {
    await swarmWith({ slow: 20 }, (r) => expect(bansOf(r)).toEqual([]));
  }, 600_000);

  it(`a peer that resets every connection mid-block: its half blocks are dropped, nothing fails (${RUNS} runs)`, async () => {
    await swarmWith({ reset: 3 }, (r) => {
      expect(bansOf(r)).toEqual([]);
      expect(r.lines.filter((l) => l.event === 'hashFailed')).toEqual([]);
    });
  }, 600_000);
});
