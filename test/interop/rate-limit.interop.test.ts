/**
 * Rate limits against libtorrent (issue 17): a 32 MiB download from a libtorrent seeder under
 * `--limit-down 4MiB` takes 8 s ± 10 %, and a libtorrent leecher fetching 20 MiB from a bt-actor seeder
 * under `--limit-up 1MiB` gets them at that rate: ± 10 % over about 20 s, measured at the seeder.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { BT_ACTOR_BIN, runBtActor } from '../support/bt-actor-run.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { libtorrentLeecher } from '../support/leechers.js';
import { freePort, jsonLines, startProcess, stopAll } from '../support/proc.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';

const MiB = 1024 * 1024;
let work: string;
const seeders: Seeder[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-rate-interop-'));
});
afterAll(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

async function torrentOf(name: string, size: number) {
  await writeRandom(join(work, 'src', name), size);
  const { torrent } = await createTorrent(join(work, 'src', name), { pieceLength: 256 * 1024, creationDate: null });
  const file = join(work, `${name}.torrent`);
  await writeFile(file, torrent);
  return { file, meta: parseMetainfo(torrent) };
}

describe('rate limits with libtorrent', () => {
  it('--limit-down 4MiB: 32 MiB from a libtorrent seeder take 8 s ± 10 %', async () => {
    const { file, meta } = await torrentOf('down.bin', 32 * MiB);
    const port = await freePort();
    seeders.push(await libtorrentSeeder(file, join(work, 'src'), port, { workDir: work }));
    const out = join(work, 'out-down');
    const r = await runBtActor(
      [file, '--out', out, '--peer', `127.0.0.1:${port}`, '--port', String(await freePort()), '--limit-down', '4MiB'],
      120_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const at = (event: string) => Date.parse(String(r.lines.find((l) => l.event === event)!.time));
    const seconds = (at('done') - at('listening')) / 1000;
    expect(seconds, `took ${seconds} s`).toBeGreaterThan(8 * 0.9);
    expect(seconds, `took ${seconds} s`).toBeLessThan(8 * 1.1);
    // The rate shown once the peer reported: 4 MiB/s ± 10 %.
    const rates = r.lines.filter((l) => l.event === 'progress' && (l.rate as number) > 0).map((l) => l.rate as number);
    expect(rates.length).toBeGreaterThan(3);
    const mid = rates.slice(1, -1);
    for (const rate of mid) expect(rate / (4 * MiB)).toBeGreaterThan(0.85);
    for (const rate of mid) expect(rate / (4 * MiB)).toBeLessThan(1.15);
    await expectSameData(meta, join(work, 'src'), out);
  }, 180_000);

  it('--limit-up 1MiB: a libtorrent leecher gets 20 MiB from a bt-actor seeder at 1 MiB/s ± 10 % over about 20 s', async () => {
    const { file, meta } = await torrentOf('up.bin', 20 * MiB);
    const port = await freePort();
    const seed = startProcess(process.execPath, [
      BT_ACTOR_BIN,
      'run',
      file,
      '--out',
      join(work, 'src'),
      '--seed',
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--no-dht',
      '--limit-up',
      '1MiB',
      '--json',
    ]);
    try {
      const lines = jsonLines(seed.child.stdout!);
      const deadline = Date.now() + 60_000;
      while (!lines.some((l) => l.event === 'complete')) {
        if (Date.now() > deadline || seed.child.exitCode !== null) throw new Error(`no seeder: ${seed.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const out = join(work, 'out-up');
      const started = performance.now();
      await libtorrentLeecher(file, out, await freePort(), { peers: [port], timeoutMs: 120_000 });
      const seconds = (performance.now() - started) / 1000;
      // Never faster than the limit; the leecher's own start (Python, libtorrent, the handshake) comes on top.
      expect(seconds, `took ${seconds} s`).toBeGreaterThan(20 * 0.9);
      expect(seconds, `took ${seconds} s`).toBeLessThan(20 * 1.1 + 3);
      // The rate measured at the seeder (its progress lines, one a second) over the transfer: 1 MiB/s ± 10 %.
      const total = meta.length;
      const up = lines
        .filter((l) => l.event === 'progress' && (l.uploaded as number) > 0 && (l.uploaded as number) < total)
        .map((l) => ({ at: Date.parse(String(l.time)), bytes: l.uploaded as number }));
      const first = up[0]!;
      const last = up.at(-1)!;
      expect(last.at - first.at).toBeGreaterThan(15_000);
      const rate = ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
      expect(rate / MiB, `measured ${rate} B/s`).toBeGreaterThan(0.9);
      expect(rate / MiB, `measured ${rate} B/s`).toBeLessThan(1.1);
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      await seed.stop();
    }
  }, 180_000);
});
