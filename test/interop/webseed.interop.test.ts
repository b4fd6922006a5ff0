/**
 * Web seeds (BEP 19) mixed with a real client (issue 17): a multi-file torrent whose `url-list` names a
 * local Node HTTP server with Range, seeded as well by libtorrent capped at 256 KiB/s (the server answers each range after 50 ms). `bt-actor run`
 * takes pieces from both and writes every file byte-identical.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { runBtActor } from '../support/bt-actor-run.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { freePort, stopAll } from '../support/proc.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';
import { startWebSeedServer, type WebSeedServer } from '../support/webseed-server.js';

let work: string;
let server: WebSeedServer;
const seeders: Seeder[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-webseed-interop-'));
  await writeRandom(join(work, 'src', 'set', 'a.bin'), 1_500_000 + 17);
  await writeRandom(join(work, 'src', 'set', 'sub dir', 'b.bin'), 1_000_000 + 5);
  server = await startWebSeedServer(join(work, 'src'));
  // About 600 KiB/s from the web seed (a piece every 50 ms), 256 KiB/s from libtorrent: both serve.
  server.delayMs = 50;
});
afterEach(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await stopAll();
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('web seed mixed with a libtorrent seeder', () => {
  it('both serve pieces; every file byte-identical', async () => {
    const { torrent } = await createTorrent(join(work, 'src', 'set'), {
      pieceLength: 32 * 1024,
      creationDate: null,
      urlList: [`${server.url}/`],
    });
    const meta = parseMetainfo(torrent);
    const file = join(work, 'set.torrent');
    await writeFile(file, torrent);
    const port = await freePort();
    seeders.push(await libtorrentSeeder(file, join(work, 'src'), port, { workDir: work, uploadLimit: 256 * 1024 }));
    const r = await runBtActor([file, '--out', join(work, 'out'), '--peer', `127.0.0.1:${port}`], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: true });
    await expectSameData(meta, join(work, 'src'), join(work, 'out'));
    const ranges = server.requests.filter((q) => q.status === 206);
    expect(ranges.some((q) => q.path === '/set/sub dir/b.bin')).toBe(true);
    // Some pieces came from libtorrent: the web seed served fewer bytes than the torrent holds.
    const webBytes = ranges.reduce((n, q) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(q.range ?? '');
      return n + (m ? Number(m[2]) - Number(m[1]) + 1 : 0);
    }, 0);
    expect(webBytes).toBeGreaterThan(0);
    expect(webBytes).toBeLessThan(meta.length);
    expect(r.lines.some((l) => l.event === 'peer-connected')).toBe(true);
  }, 180_000);
});
