/**
 * Faults in the swarm, with a real libtorrent seeder: the tracker is down when the download starts and
 * comes up later (bt-actor re-announces after its backoff and finishes); every seeder is killed mid-
 * download and restarted on the same port (bt-actor dials it again and finishes). Data verified.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { startLocalTracker, type LocalTracker } from '../../src/io/local-tracker.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { runBtActor } from '../support/bt-actor-run.js';
import { freePort, stopAll } from '../support/proc.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-faults-interop-'));
  await writeRandom(join(work, 'src', 'data.bin'), 16 * 1024 * 1024);
});
afterAll(async () => {
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

async function torrentFor(name: string, announce?: string): Promise<{ file: string; meta: Metainfo }> {
  const { torrent } = await createTorrent(join(work, 'src', 'data.bin'), {
    pieceLength: 256 * 1024,
    creationDate: null,
    ...(announce && { announce: [[announce]] }),
  });
  const file = join(work, `${name}.torrent`);
  await writeFile(file, torrent);
  return { file, meta: parseMetainfo(torrent) };
}

describe('faults in a real swarm', () => {
  it('the tracker is down at the start and comes up later: bt-actor announces again and finishes', async () => {
    const trackerPort = await freePort();
    const { file, meta } = await torrentFor('tracker-late', `http://127.0.0.1:${trackerPort}/announce`);
    const seeder = await libtorrentSeeder(file, join(work, 'src'), await freePort(), { workDir: work });
    let tracker: Promise<LocalTracker> | undefined;
    try {
      const out = join(work, 'out-tracker');
      const r = await runBtActor([file, '--out', out, '--bind', '127.0.0.1'], 120_000, (l) => {
        // The first announce failed: now the tracker comes up (the seeder announces to it every second).
        if (l.event === 'tracker-error' && !tracker) tracker = startLocalTracker({ port: trackerPort, interval: 5 });
      });
      expect(r.code, r.stderr).toBe(0);
      const kinds = r.lines.map((l) => l.event);
      expect(kinds.indexOf('tracker-error')).toBeGreaterThanOrEqual(0);
      // The announce was made again once the tracker was up (then the seeder, which announces too, and
      // bt-actor find each other: either may dial).
      const answered = kinds.indexOf('tracker');
      expect(answered).toBeGreaterThan(kinds.indexOf('tracker-error'));
      expect(kinds.indexOf('peer-connected')).toBeGreaterThan(answered);
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      await seeder.stop();
      if (tracker) await (await tracker).close();
    }
  }, 150_000);

  it('every seeder killed mid-download and restarted on its port: bt-actor dials it again and finishes', async () => {
    const { file, meta } = await torrentFor('restart');
    const port = await freePort();
    const opts = { workDir: work, uploadLimit: 2 * 1024 * 1024 };
    const seeders: Seeder[] = [await libtorrentSeeder(file, join(work, 'src'), port, opts)];
    let killed = false;
    try {
      const out = join(work, 'out-restart');
      const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`], 150_000, (l) => {
        if (!killed && l.event === 'progress' && (l.percent as number) >= 25) {
          killed = true;
          void (async () => {
            await seeders[0]!.stop();
            await new Promise((resolve) => setTimeout(resolve, 2000));
            seeders.push(await libtorrentSeeder(file, join(work, 'src'), port, opts));
          })();
        }
      });
      expect(killed).toBe(true);
      expect(r.code, r.stderr).toBe(0);
      const connected = r.lines.filter((l) => l.event === 'peer-connected' && l.key === `127.0.0.1:${port}`);
      expect(connected.length).toBeGreaterThanOrEqual(2);
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      await Promise.all(seeders.map((s) => s.stop()));
    }
  }, 180_000);
});
