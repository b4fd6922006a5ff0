/**
 * bt-actor downloads from real clients on 127.0.0.1 — libtorrent, aria2 and Transmission seeders —
 * through the CLI as a user runs it, and the bytes are compared with the source every time.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { runBtActor } from '../support/bt-actor-run.js';
import { freePort, stopAll } from '../support/proc.js';
import { hostileSeeder } from '../support/hostile-seeder.js';
import { aria2Seeder, libtorrentSeeder, transmissionSeeder, type Seeder } from '../support/seeders.js';

let work: string;
const seeders: Seeder[] = [];

async function makeTorrent(src: string, name: string, pieceLength: number): Promise<{ file: string; meta: Metainfo }> {
  const { torrent } = await createTorrent(join(src, name), { pieceLength, creationDate: null });
  const file = join(work, `${name}.torrent`);
  await writeFile(file, torrent);
  return { file, meta: parseMetainfo(torrent) };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-dl-interop-'));
  await writeRandom(join(work, 'src', 'single.bin'), 24 * 1024 * 1024 + 12345);
  const multi = join(work, 'src', 'Multi — ünïcödé');
  await writeRandom(join(multi, 'a', 'b', 'deep.bin'), 3 * 1024 * 1024 + 7);
  await writeFile(join(multi, 'empty'), '');
  for (let i = 0; i < 12; i++) await writeRandom(join(multi, 'small', `f${i}.dat`), 1000 + i * 4099);
  await writeRandom(join(multi, '日本語.bin'), 2 * 1024 * 1024);
});
afterEach(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('download from real seeders', () => {
  it('libtorrent, single file', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src'), 'single.bin', 256 * 1024);
    const port = await freePort();
    seeders.push(await libtorrentSeeder(file, join(work, 'src'), port, { workDir: work }));
    const out = join(work, 'out-lt-single');
    const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: true });
    await expectSameData(meta, join(work, 'src'), out);
  });

  it('libtorrent, multi-file: nested folders, non-ASCII names, a zero-length file, pieces spanning files', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src'), 'Multi — ünïcödé', 64 * 1024);
    const port = await freePort();
    seeders.push(await libtorrentSeeder(file, join(work, 'src'), port, { workDir: work }));
    const out = join(work, 'out-lt-multi');
    const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`], 120_000);
    expect(r.code, r.stderr).toBe(0);
    await expectSameData(meta, join(work, 'src'), out);
  });

  it('aria2', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src'), 'single.bin', 512 * 1024);
    const port = await freePort();
    seeders.push(await aria2Seeder(file, join(work, 'src'), port));
    const out = join(work, 'out-aria2');
    const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`], 180_000);
    expect(r.code, r.stderr).toBe(0);
    await expectSameData(meta, join(work, 'src'), out);
  });

  it('Transmission', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src'), 'Multi — ünïcödé', 32 * 1024);
    const port = await freePort();
    seeders.push(await transmissionSeeder(file, join(work, 'src'), port, work));
    const out = join(work, 'out-transmission');
    const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`], 240_000);
    expect(r.code, r.stderr).toBe(0);
    await expectSameData(meta, join(work, 'src'), out);
  });

  it('three seeders, two killed mid-download: completes from the last', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src'), 'single.bin', 256 * 1024);
    const ports = [await freePort(), await freePort(), await freePort()];
    for (const port of ports) {
      seeders.push(
        await libtorrentSeeder(file, join(work, 'src'), port, { workDir: work, uploadLimit: 2 * 1024 * 1024 }),
      );
    }
    const out = join(work, 'out-kill');
    let killed = false;
    const r = await runBtActor(
      [file, '--out', out, ...ports.flatMap((p) => ['--peer', `127.0.0.1:${p}`])],
      180_000,
      (l) => {
        if (!killed && l.event === 'progress' && (l.percent as number) >= 20) {
          killed = true;
          void seeders[0]!.stop();
          void seeders[1]!.stop();
        }
      },
    );
    expect(killed).toBe(true);
    expect(r.code, r.stderr).toBe(0);
    const closed = r.lines.filter((l) => l.event === 'peer-closed').map((l) => l.key);
    expect(closed).toEqual(expect.arrayContaining([`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`]));
    await expectSameData(meta, join(work, 'src'), out);
  });

  it('a seeder that serves a corrupted piece: the piece is fetched again elsewhere, the bad peer banned', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src'), 'single.bin', 256 * 1024);
    const bad = await hostileSeeder(meta, await readFile(join(work, 'src', 'single.bin')), { corrupt: [5] });
    const goodPort = await freePort();
    const out = join(work, 'out-corrupt');
    // The good seeder (libtorrent) comes up only once the bad one has served piece 5 and it failed.
    let good: Promise<Seeder> | undefined;
    try {
      const r = await runBtActor(
        [file, '--out', out, '--peer', `127.0.0.1:${bad.port}`, '--peer', `127.0.0.1:${goodPort}`],
        180_000,
        (l) => {
          if (l.event === 'hashFailed' && !good) {
            good = libtorrentSeeder(file, join(work, 'src'), goodPort, { workDir: work });
            void good.then((s) => seeders.push(s));
          }
        },
      );
      expect(r.code, r.stderr).toBe(0);
      const failed = r.lines.filter((l) => l.event === 'hashFailed');
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({
        index: 5,
        banned: [{ peer: `127.0.0.1:${bad.port}`, reason: 'sent every block of piece 5, which failed its hash' }],
      });
      expect(r.lines).toContainEqual(
        expect.objectContaining({ event: 'peer-closed', key: `127.0.0.1:${bad.port}`, reason: 'bad-data' }),
      );
      expect(bad.connections).toBe(1); // banned: never dialled again
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      await bad.stop();
      if (good) await (await good).stop();
    }
  });

  it('256 MiB from a libtorrent seeder, byte-identical', async () => {
    await writeRandom(join(work, 'big', 'big.bin'), 256 * 1024 * 1024);
    const { file, meta } = await makeTorrent(join(work, 'big'), 'big.bin', 1024 * 1024);
    const port = await freePort();
    seeders.push(await libtorrentSeeder(file, join(work, 'big'), port, { workDir: work }));
    const out = join(work, 'out-big');
    const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`], 300_000);
    expect(r.code, r.stderr).toBe(0);
    await expectSameData(meta, join(work, 'big'), out);
    await rm(out, { recursive: true, force: true });
  });
});
