/**
 * MSE/PE with real clients that require encryption, on 127.0.0.1, both ways: bt-actor downloads from
 * a libtorrent seeder with `in_enc_policy` / `out_enc_policy` forced and `allowed_enc_level` RC4 (and
 * from Transmission with `encryption: 2`, `-er`), and uploads to such leechers; the bytes are compared
 * with the source. Against the forced libtorrent seeder `--encryption plaintext` gets nothing: the
 * encrypted runs are not plaintext by accident.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server as TrackerServer } from 'bittorrent-tracker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { runBtActor, startBtActorSeed } from '../support/bt-actor-run.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { libtorrentLeecher, transmissionLeecher } from '../support/leechers.js';
import { freePort, stopAll } from '../support/proc.js';
import { libtorrentSeeder, transmissionSeeder, type Seeder } from '../support/seeders.js';

let work: string;
let tracker: InstanceType<typeof TrackerServer>;
let announce: string;
const seeders: Seeder[] = [];

async function makeTorrent(name: string, pieceLength: number, withTracker = false) {
  const { torrent } = await createTorrent(join(work, 'src', name), {
    pieceLength,
    creationDate: null,
    ...(withTracker && { announce: [[announce]] }),
  });
  const file = join(work, `${name}${withTracker ? '.tracked' : ''}.torrent`);
  await writeFile(file, torrent);
  return { file, meta: parseMetainfo(torrent) };
}

/** `bt-actor run --seed --encryption MODE` on data already in `dataDir`; resolves once it is seeding. */
async function btActorSeed(torrent: string, dataDir: string, port: number, encryption: string) {
  return startBtActorSeed(torrent, dataDir, port, ['--encryption', encryption]);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-mse-interop-'));
  tracker = new TrackerServer({ http: true, udp: false, ws: false, stats: false, interval: 5_000 });
  tracker.on('error', () => {});
  tracker.on('warning', () => {});
  await new Promise<void>((resolve) => tracker.listen(0, { http: '127.0.0.1' }, () => resolve()));
  announce = `http://127.0.0.1:${(tracker.http!.address() as { port: number }).port}/announce`;
  await writeRandom(join(work, 'src', 'secret.bin'), 16 * 1024 * 1024 + 4321);
});
afterEach(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await stopAll();
  await new Promise<void>((resolve) => (tracker ? tracker.close(() => resolve()) : resolve()));
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bt-actor downloads from clients that require encryption', () => {
  it('libtorrent forced (RC4 only): --encryption require and the default prefer download byte-identical; plaintext gets nothing', async () => {
    const { file, meta } = await makeTorrent('secret.bin', 256 * 1024);
    const port = await freePort();
    seeders.push(await libtorrentSeeder(file, join(work, 'src'), port, { workDir: work, forcedEncryption: true }));
    for (const mode of ['require', 'prefer']) {
      const out = join(work, `out-lt-${mode}`);
      const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`, '--encryption', mode], 120_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: true });
      // The JSON peer-connected line says how: RC4 (the seeder allows nothing else).
      const connected = r.lines.filter((l) => l.event === 'peer-connected');
      expect(connected.length).toBeGreaterThan(0);
      expect(connected.map((l) => l.encryption)).toEqual(connected.map(() => 'rc4'));
      await expectSameData(meta, join(work, 'src'), out);
    }
    // The control: a plaintext dial is refused by the seeder, so nothing arrives (killed after 15 s).
    const plain = await runBtActor(
      [file, '--out', join(work, 'out-lt-plain'), '--peer', `127.0.0.1:${port}`, '--encryption', 'plaintext'],
      15_000,
    );
    expect(plain.code).not.toBe(0);
    expect(plain.lines.some((l) => l.event === 'complete' || l.event === 'peer-connected')).toBe(false);
  });

  it('Transmission with encryption required (-er): --encryption require downloads byte-identical', async () => {
    const { file, meta } = await makeTorrent('secret.bin', 256 * 1024);
    const port = await freePort();
    seeders.push(await transmissionSeeder(file, join(work, 'src'), port, work, true));
    const out = join(work, 'out-tr');
    const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`, '--encryption', 'require'], 180_000);
    expect(r.code, r.stderr).toBe(0);
    await expectSameData(meta, join(work, 'src'), out);
  });
});

describe('clients that require encryption download from bt-actor', () => {
  it('a libtorrent leecher with forced encryption (RC4 only) from a bt-actor seed with --encryption require', async () => {
    const { file, meta } = await makeTorrent('secret.bin', 256 * 1024);
    const seedPort = await freePort();
    const seed = await btActorSeed(file, join(work, 'src'), seedPort, 'require');
    const out = join(work, 'out-lt-leech');
    try {
      await libtorrentLeecher(file, out, await freePort(), {
        peers: [seedPort],
        timeoutMs: 120_000,
        forcedEncryption: true,
      });
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      expect(await seed.stop()).toBe(0);
    }
    expect(seed.lines.at(-1)!.uploaded as number).toBeGreaterThanOrEqual(meta.length);
    // The leecher's connection, as the seed's JSON shows it: RC4.
    const connected = seed.lines.filter((l) => l.event === 'peer-connected');
    expect(connected.length).toBeGreaterThan(0);
    expect(connected.map((l) => l.encryption)).toEqual(connected.map(() => 'rc4'));
  });

  it('a Transmission leecher with encryption required (-er) from a bt-actor seed with the default policy (it dials)', async () => {
    const { file, meta } = await makeTorrent('secret.bin', 256 * 1024, true);
    const out = join(work, 'out-tr-leech');
    const leech = await transmissionLeecher(file, out, await freePort(), work, 180_000, true);
    const seed = await btActorSeed(file, join(work, 'src'), await freePort(), 'prefer');
    try {
      await leech.done;
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      await seed.stop();
    }
  });
});
