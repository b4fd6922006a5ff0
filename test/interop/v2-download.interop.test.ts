/**
 * BEP 52 downloads and uploads with libtorrent (python3-libtorrent) on 127.0.0.1: v2-only and hybrid
 * torrents made by libtorrent (test/interop/helpers/lt_v2.py: 32 KiB pieces) of a multi-file folder with
 * odd sizes (pad files between every file, a file of less than a block, an empty file, files of many
 * pieces with a short tail, nested folders, a non-ASCII name) download byte-identical from a libtorrent
 * seeder, every piece verified by its merkle hash (v2) or SHA-1 and merkle (hybrid); and a libtorrent
 * leecher downloads them from `bt-actor run --seed`, whose data was checked by the same verifier.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { runBtActor, startBtActorSeed } from '../support/bt-actor-run.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { libtorrentLeecher } from '../support/leechers.js';
import { freePort, stopAll } from '../support/proc.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';

const run = promisify(execFile);
const LT_V2 = join(import.meta.dirname, 'helpers/lt_v2.py');
const PY = '/usr/bin/python3';
const NAME = 'v2 set — ünï';

let work: string;
let src: string;
const seeders: Seeder[] = [];

/** libtorrent makes a `version` torrent of the folder; bt-actor reads it. */
async function ltTorrent(version: 'v2' | 'hybrid'): Promise<{ file: string; meta: Metainfo }> {
  const file = join(work, `${version}.torrent`);
  await run(PY, [LT_V2, 'make', version, join(src, NAME), file], { timeout: 60_000 });
  const meta = parseMetainfo(await readFile(file));
  expect(meta.kind).toBe(version);
  expect(meta.files.filter((f) => f.padding).length).toBeGreaterThan(3);
  return { file, meta };
}

/** `bt-actor run --seed` over data already in `dataDir`; resolves once it is seeding (every piece checked). */
async function btActorSeed(torrent: string, dataDir: string, port: number) {
  return startBtActorSeed(torrent, dataDir, port);
}

beforeAll(async () => {
  try {
    execFileSync(PY, ['-c', 'import libtorrent'], { stdio: 'ignore' });
  } catch {
    throw new Error('python3-libtorrent is not usable: install the Debian package python3-libtorrent (.ci/run does)');
  }
  work = await mkdtemp(join(tmpdir(), 'bt-actor-v2dl-interop-'));
  src = join(work, 'src');
  const set = join(src, NAME);
  await writeRandom(join(set, 'big.bin'), 3 * 1024 * 1024 + 12_345); // 97 pieces, the last short
  await writeRandom(join(set, 'a', 'deeper', 'mid.bin'), 100_003); // 4 pieces
  await writeRandom(join(set, 'a', 'tiny'), 5); // less than a block: its root is its block's hash
  await writeRandom(join(set, 'a', 'block.bin'), 16_384); // one block exactly
  await writeRandom(join(set, 'piece.bin'), 32_768); // one piece exactly: no pad after it
  await writeFile(join(set, 'empty'), '');
  await writeRandom(join(set, 'ёжик 🎉.bin'), 40_000);
});
afterEach(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('BEP 52 torrents made by libtorrent, between bt-actor and libtorrent', () => {
  for (const version of ['v2', 'hybrid'] as const) {
    const label = version === 'v2' ? 'v2-only' : 'hybrid';

    it(`${label}: bt-actor downloads from a libtorrent seeder, byte-identical`, async () => {
      const { file, meta } = await ltTorrent(version);
      const port = await freePort();
      seeders.push(await libtorrentSeeder(file, src, port, { workDir: work }));
      const out = join(work, `out-${version}`);
      const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`], 120_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: true });
      expect(r.lines.filter((l) => l.event === 'hashFailed')).toEqual([]);
      await expectSameData(meta, src, out);
    });

    it(`${label}: a libtorrent leecher downloads from bt-actor, byte-identical`, async () => {
      const { file, meta } = await ltTorrent(version);
      const seedPort = await freePort();
      const seed = await btActorSeed(file, src, seedPort);
      const out = join(work, `lt-out-${version}`);
      try {
        await libtorrentLeecher(file, out, await freePort(), { peers: [seedPort], timeoutMs: 120_000 });
        await expectSameData(meta, src, out);
      } finally {
        expect(await seed.stop()).toBe(0);
      }
      expect(seed.lines).toContainEqual(expect.objectContaining({ event: 'peer-connected' }));
      expect(seed.lines.at(-1)!.uploaded as number).toBeGreaterThanOrEqual(
        meta.files.filter((f) => !f.padding).reduce((n, f) => n + f.length, 0),
      );
    });
  }
});
