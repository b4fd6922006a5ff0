/**
 * bt-actor as the only seeder, real clients as leechers on 127.0.0.1: aria2 and Transmission each
 * download a 256 MiB torrent, libtorrent a multi-file one; the bytes are compared with the source.
 * Peers meet through a bittorrent-tracker server (HTTP) started by the test.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server as TrackerServer } from 'bittorrent-tracker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { aria2Leecher, libtorrentLeecher, transmissionLeecher } from '../support/leechers.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { freePort, stopAll } from '../support/proc.js';
import { startBtActorSeed } from '../support/bt-actor-run.js';

let work: string;
let tracker: InstanceType<typeof TrackerServer>;
let announce: string;

async function makeTorrent(src: string, name: string, pieceLength: number) {
  const { torrent } = await createTorrent(join(src, name), { pieceLength, creationDate: null, announce: [[announce]] });
  const file = join(work, `${name}.torrent`);
  await writeFile(file, torrent);
  return { file, meta: parseMetainfo(torrent) };
}

interface Seed {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stop: () => Promise<number | null>;
}

/** Starts `bt-actor run --seed` on data already in `dataDir`; resolves once it is seeding. */
async function btActorSeed(torrent: string, dataDir: string, port: number): Promise<Seed> {
  return startBtActorSeed(torrent, dataDir, port);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-upload-interop-'));
  tracker = new TrackerServer({ http: true, udp: false, ws: false, stats: false, interval: 5_000 });
  tracker.on('error', () => {});
  tracker.on('warning', () => {});
  await new Promise<void>((resolve) => tracker.listen(0, { http: '127.0.0.1' }, () => resolve()));
  announce = `http://127.0.0.1:${(tracker.http!.address() as { port: number }).port}/announce`;
  await writeRandom(join(work, 'src', 'big.bin'), 256 * 1024 * 1024);
  const multi = join(work, 'src', 'Set — ünï');
  await writeRandom(join(multi, 'a', 'deep.bin'), 5 * 1024 * 1024 + 3);
  await writeFile(join(multi, 'empty'), '');
  for (let i = 0; i < 10; i++) await writeRandom(join(multi, 'small', `f${i}.dat`), 3000 + i * 977);
});
afterAll(async () => {
  await stopAll();
  await new Promise<void>((resolve) => (tracker ? tracker.close(() => resolve()) : resolve()));
  if (work) await rm(work, { recursive: true, force: true });
});

describe('real leechers download from a bt-actor seed alone', () => {
  it('aria2 downloads 256 MiB, byte-identical', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src'), 'big.bin', 1024 * 1024);
    const seed = await btActorSeed(file, join(work, 'src'), await freePort());
    const out = join(work, 'out-aria2');
    try {
      await aria2Leecher(file, out, await freePort(), 300_000);
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      expect(await seed.stop()).toBe(0); // a clean shutdown on SIGTERM
      await rm(out, { recursive: true, force: true });
    }
    expect(seed.lines).toContainEqual(expect.objectContaining({ event: 'peer-connected' }));
    expect(seed.lines.at(-1)).toMatchObject({ event: 'done', complete: true });
    expect(seed.lines.at(-1)!.uploaded as number).toBeGreaterThanOrEqual(meta.length);
  });

  it('Transmission downloads 256 MiB, byte-identical (the seed dials it)', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src'), 'big.bin', 1024 * 1024);
    const out = join(work, 'out-transmission');
    const leech = await transmissionLeecher(file, out, await freePort(), work, 300_000);
    const seed = await btActorSeed(file, join(work, 'src'), await freePort());
    try {
      await leech.done;
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      await seed.stop();
      await rm(out, { recursive: true, force: true });
    }
  });

  it('libtorrent downloads a multi-file torrent', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src'), 'Set — ünï', 64 * 1024);
    const seedPort = await freePort();
    const seed = await btActorSeed(file, join(work, 'src'), seedPort);
    const out = join(work, 'out-lt');
    try {
      await libtorrentLeecher(file, out, await freePort(), { peers: [seedPort], timeoutMs: 120_000 });
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      await seed.stop();
    }
  });
});
